/**
 * What the wire benchmarks compare gRPC transfers with, on the same loopback in the same run: raw TCP (the
 * targets' baseline: the receiver only counts the bytes) and, as context, raw TCP and plain HTTP/2
 * (node:http2, no gRPC) with the receiver landing the bytes in one model-sized buffer with the CRC-32C, as
 * our transfers must. The servers run in the coordinator's process (coordinatorProcess.ts); the functions
 * that talk to them, in the bench's.
 */
import http2 from "node:http2";
import net from "node:net";
import type { Duplex } from "node:stream";
import { DOWNLOAD_WINDOW_BYTES } from "../../client/agent/coordinatorConnection.js";
import { DEFAULT_RECEIVE_WINDOW } from "../../coordinator/transport/receiveWindow.js";
import { checksum } from "../../shared/codec/crc32c.js";
import { MiB, fillPattern } from "./fixtures.js";

let pattern: Buffer | null = null;

/**
 * Untimed transfers of each kind before the timed ones: a process's first transfers run slower while V8
 * compiles the paths they take, and the figures are the steady state a client reaches after its first rounds.
 * Measured here (2026-11-28, ms per transfer in a fresh process): 10 MB over gRPC 35, 30, 20, 20, 12, 10, then
 * 7–10; over plain HTTP/2 17, 16, 13, 11, 12, 11, 11, 9, then 6–7; 100 MB over gRPC 274, 161, 83, 75, then
 * 59–75; raw TCP settles after two or three. Five were not enough for HTTP/2.
 */
export const TRANSFER_WARMUP = 10;

/** A socket or an HTTP/2 stream. */
interface Sink {
  write(chunk: Uint8Array): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/** Writes `bytes` bytes of a fixed pattern to `sock` in 1 MiB writes, honouring backpressure; then `done`. */
function writeInBlocks(sock: Sink, bytes: number, done: () => void): void {
  // Made once: filling it is not part of the raw-TCP transfer the benchmarks time.
  const block = (pattern ??= Buffer.from(fillPattern(new Float32Array(MiB / 4), 3).buffer));
  let sent = 0;
  const pump = () => {
    while (sent < bytes) {
      const n = Math.min(block.byteLength, bytes - sent);
      sent += n;
      if (!sock.write(n === block.byteLength ? block : block.subarray(0, n))) return void sock.once("drain", pump);
    }
    done();
  };
  pump();
}

/** What a receiver does with each piece it reads, in order; by default nothing (the bytes are only counted). */
type Land = (piece: Uint8Array) => void;

/**
 * Where a transfer must put a model's bytes: one model-sized buffer, with the CRC-32C. Landed as our client lands
 * a download (and the coordinator an upload): the pieces the socket delivers are gathered into 1 MiB (a chunk message), which is copied into
 * the buffer with the CRC-32C in the same pass (PayloadAssembler); one native call per MiB rather than per
 * 16 KiB frame, which costs more than the copy it saves. Two buffers alternate, as a client's downloads do
 * (DownloadBuffers), so no transfer pays for fresh pages. `next()` is one transfer's Land.
 */
export class ModelLanding {
  private readonly buffers: Uint8Array[];
  private readonly gather = Buffer.alloc(MiB);
  private turn = 0;
  private readonly copyCrc32c = checksum().copyCrc32c;
  /** The latest transfer's buffer, and the CRC-32C of what it has landed. */
  buffer: Uint8Array = new Uint8Array(0);
  crc = 0;

  constructor(private readonly bytes: number) {
    this.buffers = [new Uint8Array(bytes), new Uint8Array(bytes)];
  }

  next(): Land {
    const dst = (this.buffer = this.buffers[this.turn++ & 1]!);
    const gather = this.gather;
    this.crc = 0;
    let gathered = 0;
    let landed = 0;
    return (piece) => {
      for (let at = 0; at < piece.byteLength; ) {
        const n = Math.min(gather.byteLength - gathered, piece.byteLength - at);
        gather.set(piece.subarray(at, at + n), gathered);
        gathered += n;
        at += n;
        if (gathered === gather.byteLength || landed + gathered === this.bytes) {
          this.crc = this.copyCrc32c(dst.subarray(landed), gather.subarray(0, gathered), this.crc);
          landed += gathered;
          gathered = 0;
        }
      }
    };
  }
}

/**
 * Reads `stream` to its end, counting (or landing) its bytes; resolves when exactly `expected` came. `what`
 * names the transport in the errors.
 */
function receiveExactly(stream: Duplex, expected: number, land: Land | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    stream.on("data", (d: Buffer) => {
      if (got + d.byteLength > expected) return void stream.destroy(new Error(`${what}: more than ${expected} bytes`));
      land?.(d);
      got += d.byteLength;
    });
    stream.on("error", reject);
    stream.on("end", () => (got === expected ? resolve() : reject(new Error(`${what}: got ${got} of ${expected} bytes`))));
  });
}

/** Raw TCP (ServerInfo.tcpPort): receives `expected` bytes from a raw TCP sender, counting (or landing) them. */
export function rawTcpReceive(port: number, expected: number, land?: Land): Promise<void> {
  return receiveExactly(net.connect(port, "127.0.0.1"), expected, land, "raw TCP");
}

/** A client session to the plain HTTP/2 server (ServerInfo.h2Port), with the receive windows our client uses. */
export function plainHttp2Session(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: DOWNLOAD_WINDOW_BYTES } });
  session.once("remoteSettings", () => session.setLocalWindowSize(DOWNLOAD_WINDOW_BYTES));
  session.on("error", () => undefined); // reported by the request
  return session;
}

/** Plain HTTP/2: posts `bytes` in 1 MiB writes, honouring flow control; resolves on the server's answer. */
export function plainHttp2Send(session: http2.ClientHttp2Session, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": "/update" });
    req.on("response", (headers) => {
      if (headers[":status"] !== 200) reject(new Error(`plain HTTP/2: the server answered ${headers[":status"]}`));
    });
    req.on("data", () => undefined);
    req.on("end", resolve);
    req.on("error", reject);
    writeInBlocks(req, bytes, () => req.end());
  });
}

/** Plain HTTP/2: one request, whose response is `expected` bytes, counted (or landed). */
export function plainHttp2Receive(session: http2.ClientHttp2Session, expected: number, land?: Land): Promise<void> {
  return receiveExactly(session.request({ ":path": "/model" }), expected, land, "plain HTTP/2");
}

/** Raw TCP (ServerInfo.tcpSinkPort): sends `bytes` in 1 MiB writes, honouring backpressure; resolves on the sink's one-byte answer. */
export function rawTcpSend(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let sent = false;
    sock.on("connect", () => writeInBlocks(sock, bytes, () => (sent = true)));
    sock.on("data", () => sock.end());
    sock.on("close", () => (sent ? resolve() : reject(new Error(`raw TCP: the sink closed before all ${bytes} bytes were sent`))));
    sock.on("error", reject);
  });
}

export interface BaselinePorts {
  /** Raw TCP: sends the model's byte count to whoever connects. */
  tcpPort: number;
  /** Raw TCP: receives the model's byte count, then answers one byte. */
  tcpSinkPort: number;
  /** The same, landing the bytes as an upload is landed (ModelLanding). */
  tcpLandingSinkPort: number;
  /**
   * Plain HTTP/2 (node:http2, no gRPC): answers a GET with the model's byte count; lands a POST's body of
   * that many bytes (ModelLanding), then answers, with the receive windows the coordinator gives an upload.
   */
  h2Port: number;
}

/** The servers behind BaselinePorts, for transfers of `modelBytes` bytes, on 127.0.0.1. */
export async function startBaselineServers(modelBytes: number): Promise<{ ports: BaselinePorts; close(): void }> {
  // Raw TCP: the same number of bytes, in 1 MiB writes, honouring backpressure.
  const tcp = net.createServer((sock) => {
    sock.on("error", () => undefined);
    writeInBlocks(sock, modelBytes, () => sock.end());
  });
  const landing = new ModelLanding(modelBytes);
  const sinkServer = (land: () => Land | undefined) =>
    net.createServer((sock) => {
      const landed = land();
      let got = 0;
      sock.on("data", (d: Buffer) => {
        if (got + d.byteLength <= modelBytes) landed?.(d);
        got += d.byteLength;
        if (got === modelBytes) sock.end(Buffer.of(1));
      });
      sock.on("error", () => undefined);
    });
  const sink = sinkServer(() => undefined);
  const landingSink = sinkServer(() => landing.next());
  // Plain HTTP/2: the same bytes as one response, in 1 MiB writes (the sender's windows are the client's to
  // set); or received as one request's body.
  const h2 = http2.createServer({ settings: { initialWindowSize: DEFAULT_RECEIVE_WINDOW } });
  h2.on("session", (session) => session.setLocalWindowSize(DEFAULT_RECEIVE_WINDOW));
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    if (headers[":method"] !== "POST") {
      stream.respond({ ":status": 200 });
      return writeInBlocks(stream, modelBytes, () => stream.end());
    }
    const landed = landing.next();
    let got = 0;
    stream.on("data", (d: Buffer) => {
      if (got + d.byteLength <= modelBytes) landed(d);
      got += d.byteLength;
    });
    stream.on("end", () => {
      stream.respond({ ":status": got === modelBytes ? 200 : 400 });
      stream.end();
    });
  });
  const servers = [tcp, sink, landingSink, h2];
  const [tcpPort, tcpSinkPort, tcpLandingSinkPort, h2Port] = await Promise.all(
    servers.map((s) => new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as net.AddressInfo).port)))),
  );
  return {
    ports: { tcpPort: tcpPort!, tcpSinkPort: tcpSinkPort!, tcpLandingSinkPort: tcpLandingSinkPort!, h2Port: h2Port! },
    close: () => servers.forEach((s) => s.close()),
  };
}
