/**
 * The coordinator's HTTP/2 receive window, seen from the wire by a plain node:http2 client: the per-stream
 * window in the server's SETTINGS and the connection window after its WINDOW_UPDATE. grpc-js alone leaves
 * both at 65,535 bytes (checked too, so a setReceiveWindow that did nothing would fail here).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../../coordinator/coordinator.js";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { DEFAULT_RECEIVE_WINDOW, setReceiveWindow } from "../../../coordinator/transport/receiveWindow.js";
import { initBackend } from "../../../shared/backends/selectBackend.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";
import { killAll, startCli } from "../../helpers/cli.js";

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

  it("is raised per stream and per connection by setReceiveWindow, in plaintext and over TLS", async () => {
    const plain = new grpc.Server();
    servers.push(plain);
    expect(setReceiveWindow(plain, 3 << 20)).toBe(true);
    const plainPort = await listen(plain);
    expect(await windowsOf(`http://127.0.0.1:${plainPort}`, 3 << 20)).toEqual({ stream: 3 << 20, connection: 3 << 20 });

    const dir = mkdtempSync(path.join(os.tmpdir(), "ff-window-"));
    execFileSync("bash", [path.resolve("deploy/tls/make-certs.sh"), dir, "localhost"]);
    const read = (f: string) => readFileSync(path.join(dir, f));
    const tls = new grpc.Server();
    servers.push(tls);
    expect(setReceiveWindow(tls, 512 << 10)).toBe(true);
    const tlsPort = await listen(tls, grpc.ServerCredentials.createSsl(null, [{ cert_chain: read("coordinator.crt"), private_key: read("coordinator.key") }], false));
    expect(await windowsOf(`https://localhost:${tlsPort}`, 512 << 10, { ca: read("ca.crt") })).toEqual({ stream: 512 << 10, connection: 512 << 10 });
  });

  it("is 1 MiB on a running coordinator unless it is given one", async () => {
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
        expect(await windowsOf(`http://127.0.0.1:${coordinator.port}`, expected)).toEqual({ stream: expected, connection: expected });
      } finally {
        await coordinator.stop("test finished");
        await coordinator.done.catch(() => undefined);
      }
    }
    expect(DEFAULT_RECEIVE_WINDOW).toBe(1 << 20);
  });

  it("is set by `fedfusion coordinator --receive-window` (KiB)", async () => {
    const coordinator = startCli(["coordinator", "--port", "0", "--host", "127.0.0.1", "--classes", "a,b", "--backend", "wasm", "--receive-window", "256"]);
    try {
      const port = (await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1];
      expect(await windowsOf(`http://127.0.0.1:${port}`, 256 << 10)).toEqual({ stream: 256 << 10, connection: 256 << 10 });
    } finally {
      killAll([coordinator]);
      await coordinator.exited;
    }
  });

  it("refuses a window HTTP/2 cannot carry", () => {
    const server = new grpc.Server();
    for (const bad of [0, 65_534, 2 ** 31, 1.5, NaN]) expect(() => setReceiveWindow(server, bad)).toThrow(/receive window .* is not an integer from 65535 to 2147483647 bytes/);
  });
});
