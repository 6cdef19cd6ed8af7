/**
 * The coordinator's HTTP/2 receive windows, seen from the wire: the connection window after the server's
 * WINDOW_UPDATE and the per-stream window in its SETTINGS, which stays at HTTP/2's 65,535 bytes until one of
 * the session's uploads holds a slot. grpc-js alone leaves both at 65,535 bytes (checked too, so a
 * setReceiveWindow that did nothing would fail here). And what that bounds: an upload waiting its turn gets
 * only the first 64 KiB across, an admitted one the whole window.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../../coordinator/coordinator.js";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { DEFAULT_RECEIVE_WINDOW, setReceiveWindow } from "../../../coordinator/transport/receiveWindow.js";
import { initBackend } from "../../../shared/backends/selectBackend.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { ChunkedFederationClient } from "../../../shared/codec/chunkMessages.js";
import { encodePayload } from "../../../shared/codec/payload.js";
import { killAll, startCli } from "../../helpers/cli.js";
import { grpcFederation, uploadHeader } from "../../helpers/grpcFederation.js";

interface Windows {
  /** SETTINGS_INITIAL_WINDOW_SIZE the server advertised: each stream's receive window. */
  stream: number;
  /** The server's connection-level receive window, once its WINDOW_UPDATE (if any) arrived. */
  connection: number;
}

/** Connects, reads the server's SETTINGS, and waits (≤ 2 s) for the connection window to reach `expect`. */
async function windowsOf(authority: string, expected: number, options: http2.SecureClientSessionOptions = {}): Promise<Windows> {
  const session = http2.connect(authority, options);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once("remoteSettings", resolve);
      session.once("error", reject);
    });
    const until = Date.now() + 2_000;
    while (session.state.remoteWindowSize !== expected && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    return { stream: settings.initialWindowSize ?? 65_535, connection: session.state.remoteWindowSize ?? NaN };
  } finally {
    session.destroy();
  }
}

async function until(ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

/**
 * A TCP proxy to `port` that counts the bytes each of its connections' clients sends, and reads the server's
 * SETTINGS frames going back (plaintext HTTP/2: 9-byte frame headers, SETTINGS is type 4) for their
 * SETTINGS_INITIAL_WINDOW_SIZE values; connections in the order they were accepted.
 */
async function countingProxy(port: number) {
  const connections: { sent: number; windows: number[] }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const seen = { sent: 0, windows: [] as number[] };
    connections.push(seen);
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("data", (d: Buffer) => {
      seen.sent += d.length;
      upstream.write(d);
    });
    let pending = Buffer.alloc(0);
    upstream.on("data", (d: Buffer) => {
      client.write(d);
      pending = Buffer.concat([pending, d]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const length = pending.readUIntBE(0, 3);
        const isSettings = pending[3] === 4 && (pending[4]! & 1) === 0; // SETTINGS, not an ACK
        for (let at = 9; isSettings && at + 6 <= 9 + length; at += 6) if (pending.readUInt16BE(at) === 4) seen.windows.push(pending.readUInt32BE(at + 2));
        pending = pending.subarray(9 + length);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connection: (i: number) => connections[i],
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function listen(server: grpc.Server, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (e, p) => (e ? reject(e) : resolve(p))));
}

describe("the coordinator's receive window", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("is grpc-js's 64 KiB on a server left alone", async () => {
    const server = new grpc.Server();
    servers.push(server);
    const port = await listen(server);
    await new Promise((r) => setTimeout(r, 100)); // no WINDOW_UPDATE is coming; let one show if it did
    expect(await windowsOf(`http://127.0.0.1:${port}`, 65_535)).toEqual({ stream: 65_535, connection: 65_535 });
  });

  it("is raised per connection by setReceiveWindow, in plaintext and over TLS; streams start at 64 KiB", async () => {
    const plain = new grpc.Server();
    servers.push(plain);
    expect(setReceiveWindow(plain, 3 << 20)).not.toBeNull();
    const plainPort = await listen(plain);
    expect(await windowsOf(`http://127.0.0.1:${plainPort}`, 3 << 20)).toEqual({ stream: 65_535, connection: 3 << 20 });

    const dir = mkdtempSync(path.join(os.tmpdir(), "ff-window-"));
    execFileSync("bash", [path.resolve("deploy/tls/make-certs.sh"), dir, "localhost"]);
    const read = (f: string) => readFileSync(path.join(dir, f));
    const tls = new grpc.Server();
    servers.push(tls);
    expect(setReceiveWindow(tls, 512 << 10)).not.toBeNull();
    const tlsPort = await listen(tls, grpc.ServerCredentials.createSsl(null, [{ cert_chain: read("coordinator.crt"), private_key: read("coordinator.key") }], false));
    expect(await windowsOf(`https://localhost:${tlsPort}`, 512 << 10, { ca: read("ca.crt") })).toEqual({ stream: 65_535, connection: 512 << 10 });
  });

  it("is 4 MiB on a running coordinator unless it is given one", async () => {
    const training = {
      localEpochs: 1, batchSize: 8, learningRate: 0.01, learningRateSchedule: { kind: "constant" as const, min: 0 }, optimizer: "sgd" as const, proximalMu: 0,
      federate: "all" as const, augment: { flip: false, cropPadding: 0 }, updateEncoding: { encoding: "float32" as const, topkFraction: 0 },
    };
    const settings = { rounds: 1, minClients: 1, fraction: 1, minFitClients: 1, roundTimeoutMs: 60_000, seed: 1, maxUpdateNorm: 0, training };
    const start = (receiveWindowBytes?: number) =>
      startCoordinator({
        host: "127.0.0.1", port: 0, spec: resolveModelSpec("cnn", [28, 28, 1], ["a", "b"]), strategy: createStrategy("fedavg"), settings,
        config: {}, log: () => undefined, receiveWindowBytes,
      });
    for (const [given, expected] of [[undefined, DEFAULT_RECEIVE_WINDOW], [200_000, 200_000]] as const) {
      const coordinator = await start(given);
      try {
        expect(await windowsOf(`http://127.0.0.1:${coordinator.port}`, expected)).toEqual({ stream: 65_535, connection: expected });
      } finally {
        await coordinator.stop("test finished");
        await coordinator.done.catch(() => undefined);
      }
    }
    expect(DEFAULT_RECEIVE_WINDOW).toBe(4 << 20);
  });

  it("is set by `fedfusion coordinator --receive-window` (KiB)", async () => {
    const coordinator = startCli(["coordinator", "--port", "0", "--host", "127.0.0.1", "--classes", "a,b", "--backend", "wasm", "--receive-window", "256"]);
    try {
      const port = (await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1];
      expect(await windowsOf(`http://127.0.0.1:${port}`, 256 << 10)).toEqual({ stream: 65_535, connection: 256 << 10 });
    } finally {
      killAll([coordinator]);
      await coordinator.exited;
    }
  });

  it("lets an upload waiting for a slot send only 64 KiB, and one holding a slot the whole window", async () => {
    const specs = [{ name: "w/kernel", shape: [1 << 20] }]; // a 4 MiB update
    const f = await grpcFederation(specs, [new Float32Array(1 << 20)], { minClients: 2, maxConcurrentUploads: 1, receiveWindowBytes: 1 << 20 });
    servers.push(f.server);
    const proxy = await countingProxy(f.port);
    try {
      const waiter = await f.join("waiter", undefined, proxy.port); // the proxy's first connection
      const holder = await f.join("holder");
      for (const c of [holder, waiter]) expect((await c.conn.getTask(c.joined.sessionId, 1_000)).kind?.$case).toBe("train");
      // The holder takes the only slot and keeps it (its header, then nothing), on the proxy's second connection.
      const raw = new ChunkedFederationClient(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
      const held = raw.uploadUpdate(() => undefined);
      held.on("error", () => undefined);
      held.write({ part: { $case: "header", value: { ...uploadHeader(holder.joined.sessionId), manifest: encodePayload([{ ...specs[0]!, values: new Float32Array(1 << 20) }]).manifest } } });
      await until(() => proxy.connection(1)?.windows.includes(1 << 20) ?? false); // admitted: its session widened
      expect(proxy.connection(1)!.windows).toEqual([65_535, 1 << 20]);

      const payload = encodePayload([{ ...specs[0]!, values: new Float32Array(1 << 20).fill(0.5) }]);
      const before = proxy.connection(0)!.sent;
      const upload = waiter.conn.uploadUpdate(uploadHeader(waiter.joined.sessionId), payload, 30_000);
      await new Promise((r) => setTimeout(r, 500)); // the waiter sends what its windows allow
      const waiting = proxy.connection(0)!.sent - before;
      expect(waiting).toBeGreaterThan(40_000); // its header and the first of its data went out…
      expect(waiting).toBeLessThan(100_000); // …but not the 1 MiB window an admitted upload gets

      held.cancel(); // the slot frees: the waiter is admitted, widened, and finishes
      expect(await upload).toEqual({ accepted: true, reason: "" });
      expect(proxy.connection(0)!.sent - before).toBeGreaterThan(4 << 20);
      // On the wire, the waiter's connection was told: 64 KiB streams, then the full window, then 64 KiB again.
      await until(() => proxy.connection(0)!.windows.length >= 3);
      expect(proxy.connection(0)!.windows).toEqual([65_535, 1 << 20, 65_535]);
      raw.close();
      holder.conn.close();
      waiter.conn.close();
    } finally {
      proxy.close();
      f.machine.stop();
    }
  });

  it("still takes an upload whose header alone is larger than a waiting stream's 64 KiB", async () => {
    const specs = Array.from({ length: 3000 }, (_, i) => ({ name: `block_${i}/a_rather_long_layer_name/kernel`, shape: [2] }));
    const f = await grpcFederation(specs, specs.map(() => new Float32Array(2)), { maxConcurrentUploads: 1, receiveWindowBytes: 1 << 20 });
    servers.push(f.server);
    try {
      const { conn, joined } = await f.join("site");
      expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
      const payload = encodePayload(specs.map((s) => ({ ...s, values: new Float32Array(2).fill(0.25) })));
      expect(JSON.stringify(payload.manifest).length).toBeGreaterThan(100_000);
      expect(await conn.uploadUpdate(uploadHeader(joined.sessionId), payload, 30_000)).toEqual({ accepted: true, reason: "" });
      conn.close();
    } finally {
      f.machine.stop();
    }
  });

  it("refuses a window HTTP/2 cannot carry", () => {
    const server = new grpc.Server();
    for (const bad of [0, 65_534, 2 ** 31, 1.5, NaN]) expect(() => setReceiveWindow(server, bad)).toThrow(/receive window .* is not an integer from 65535 to 2147483647 bytes/);
  });
});
