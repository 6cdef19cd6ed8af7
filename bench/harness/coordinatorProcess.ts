/**
 * The benchmarks' coordinator process: a real coordinator (startCoordinator, `cnn` sized by its number of
 * classes, FedAvg, no test set) with raw TCP sockets beside it in the same process, the baselines that
 * the wire benchmarks compare gRPC transfers with. Run with startChild("harness/coordinatorProcess.js",
 * "coordinatorServer", …); a site joins it with joinCoordinator.
 */
import net from "node:net";
import type { WeightSpec } from "../../shared/model/weights.js";
import { MiB, fillPattern } from "./fixtures.js";
import type { ChildHandle, ChildIO } from "./proc.js";
import { cliRoundSettings } from "./settings.js";
import { cpuNow } from "./timing.js";

/** Parameters of `cnn` on 28×28×1 input with `classes` classes: conv 3×3×1×32 + bias, dense 5408×classes + bias. */
export function cnnParams(classes: number): number {
  return 3 * 3 * 1 * 32 + 32 + 26 * 26 * 32 / 4 * classes + classes;
}

/** The number of classes that makes `cnn` at least `params` parameters. */
export function cnnClassesFor(params: number): number {
  return Math.max(2, Math.ceil((params - 320) / 5409));
}

let pattern: Buffer | null = null;

/** Writes `bytes` bytes of a fixed pattern to `sock` in 1 MiB writes, honouring backpressure; then `done`. */
export function writeInBlocks(sock: net.Socket, bytes: number, done: () => void): void {
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

/** Raw TCP (ServerInfo.tcpPort): receives `expected` bytes from a raw TCP sender, counting them. */
export function rawTcpReceive(port: number, expected: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const sock = net.connect(port, "127.0.0.1");
    sock.on("data", (d: Buffer) => {
      got += d.byteLength;
    });
    sock.on("error", reject);
    sock.on("end", () => (got === expected ? resolve() : reject(new Error(`raw TCP: got ${got} of ${expected} bytes`))));
  });
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

export interface ServerInfo {
  port: number;
  /** Raw TCP: sends the model's byte count to whoever connects. */
  tcpPort: number;
  /** Raw TCP: receives the model's byte count, then answers one byte. */
  tcpSinkPort: number;
  specs: WeightSpec[];
  params: number;
  modelBytes: number;
}

export async function coordinatorServer(
  args: { classes: number; rounds: number; minClients: number; receiveWindowBytes?: number },
  io: ChildIO,
): Promise<{ stopped: boolean }> {
  const { initBackend } = await import("../../shared/backends/selectBackend.js");
  await initBackend("cpu"); // the coordinator only builds the model for its layout; no training here
  const { buildModel } = await import("../../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../../shared/model/modelSpec.js");
  const { weightSpecs } = await import("../../shared/model/weights.js");
  const { startCoordinator } = await import("../../coordinator/coordinator.js");
  const spec = resolveModelSpec("cnn", [28, 28, 1], Array.from({ length: args.classes }, (_, i) => `c${i}`));
  const probe = buildModel(spec);
  const specs = weightSpecs(probe);
  probe.dispose();
  const params = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  // The bench's client sends no heartbeats (it only transfers): sessions do not time out here.
  const { settings, strategy } = await cliRoundSettings(["--rounds", String(args.rounds), "--fraction", "1", "--round-timeout", "300", "--session-timeout", "0", "--seed", "1"], args.minClients);
  const coordinator = await startCoordinator({
    host: "127.0.0.1", port: 0, spec, strategy, settings, config: { command: "bench" }, log: () => undefined, receiveWindowBytes: args.receiveWindowBytes,
  });
  // Raw TCP: the same number of bytes, in 1 MiB writes, honouring backpressure.
  const modelBytes = params * 4;
  const tcp = net.createServer((sock) => {
    sock.on("error", () => undefined);
    writeInBlocks(sock, modelBytes, () => sock.end());
  });
  const sink = net.createServer((sock) => {
    let got = 0;
    sock.on("data", (d: Buffer) => {
      got += d.byteLength;
      if (got === modelBytes) sock.end(Buffer.of(1));
    });
    sock.on("error", () => undefined);
  });
  const listen = (s: net.Server) => new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as net.AddressInfo).port)));
  const tcpPort = await listen(tcp);
  const tcpSinkPort = await listen(sink);
  io.send({ port: coordinator.port, tcpPort, tcpSinkPort, specs, params, modelBytes } satisfies ServerInfo);
  // "cpu": this process's CPU time so far (ms); "stop": shut down.
  for (let m = await io.next(); m !== "stop"; m = await io.next()) if (m === "cpu") io.send(cpuNow());
  tcp.close();
  sink.close();
  await coordinator.stop("benchmark finished");
  return { stopped: true };
}

/** The coordinatorServer child's CPU time so far, ms (its "cpu" message). */
export async function serverCpuMs(server: ChildHandle<unknown>): Promise<number> {
  server.send("cpu");
  return server.nextMessage<number>(30_000);
}

export async function joinCoordinator(address: string) {
  const { CoordinatorConnection } = await import("../../client/agent/coordinatorConnection.js");
  const { Encoding, JoinRequest } = await import("../../shared/generated/fedfusion/v1/federation.js");
  const conn = new CoordinatorConnection({ address });
  const joined = await conn.join(
    JoinRequest.fromPartial({
      siteName: `bench-${process.pid}`,
      numExamples: 100,
      backend: "none",
      // Empty architecture and shape: "whatever the federation runs".
      model: { architecture: "", fingerprint: "", inputShape: [], classNames: [], parameterCount: 0, configJson: "" },
      clientVersion: "fedfusion-bench",
      supportedEncodings: [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_FLOAT16, Encoding.ENCODING_INT8, Encoding.ENCODING_TOPK],
    }),
  );
  return { conn, sessionId: joined.sessionId };
}

