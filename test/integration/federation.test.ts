/**
 * The spine end to end: `fedfusion partition` writes image folders, a coordinator and three clients run as
 * separate OS processes over real gRPC on loopback, and the saved global model is evaluated and used.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allExited, runCli, startCli, tempDir, type CliProcess } from "../helpers/cli.js";

describe("a coordinator and three client processes", () => {
  let dir: string;
  let coordinator: CliProcess;
  let clients: CliProcess[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    const parts = await runCli(["partition", "--dataset", "fashion-mnist", "--clients", "3", "--samples", "150", "--test-samples", "300", "--out", path.join(dir, "parts")]);
    expect(parts.code, parts.stderr).toBe(0);
  });

  afterAll(() => {
    for (const p of [coordinator, ...clients]) if (p && p.child.exitCode === null) p.child.kill();
  });

  it("completes two rounds with the global accuracy above chance, then the model is usable", async () => {
    const out = path.join(dir, "run");
    coordinator = startCli([
      "coordinator", "--port", "0", "--host", "127.0.0.1", "--min-clients", "3", "--rounds", "2", "--model", "cnn",
      "--test-data", path.join(dir, "parts/test"), "--out", out, "--backend", "wasm",
    ]);
    const [, port] = await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    clients = [1, 2, 3].map((i) =>
      startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, `parts/client-${i}`), "--name", `site-${i}`, "--backend", "wasm"]),
    );
    const results = await allExited([coordinator, ...clients]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(coordinator.output()).toMatch(/round 2\/2 +accuracy/);
    for (const c of clients) expect(c.output()).toMatch(/federation finished at model version 2/);

    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(metrics.rounds).toHaveLength(2);
    for (const r of metrics.rounds) {
      expect(r.clients).toBe(3);
      expect(r.bytesUp).toBeGreaterThan(3 * 54_410 * 4);
      expect(r.bytesDown).toBeGreaterThan(3 * 54_410 * 4);
      expect(r.durationMs).toBeGreaterThan(0);
    }
    // The clients evaluated the starting model of each round on their held-out images.
    expect(metrics.rounds[1].federatedEvaluation.examples).toBeGreaterThan(0);
    expect(metrics.final.accuracy).toBeGreaterThan(0.3); // 10 classes: chance is 0.1
    // ... and the final model too, per site.
    expect(Object.keys(metrics.final.federatedEvaluation.sites).sort()).toEqual(["site-1", "site-2", "site-3"]);
    expect(metrics.final.federatedEvaluation.modelVersion).toBe(2);
    expect(metrics.rounds[1].loss).toBeLessThan(metrics.rounds[0].loss);

    const evaluated = await runCli(["evaluate", "--model", path.join(out, "model"), "--data", path.join(dir, "parts/test"), "--json", "--backend", "wasm"]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const ev = JSON.parse(evaluated.stdout);
    expect(ev.examples).toBe(300);
    expect(ev.accuracy).toBeCloseTo(metrics.final.accuracy, 5);

    const sneaker = path.join(dir, "parts/test/sneaker");
    const { readdir } = await import("node:fs/promises");
    const files = (await readdir(sneaker)).slice(0, 2).map((f) => path.join(sneaker, f));
    const predicted = await runCli(["predict", "--model", path.join(out, "model"), "--json", "--backend", "wasm", ...files]);
    expect(predicted.code, predicted.stderr).toBe(0);
    const lines = predicted.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.predictions).toHaveLength(3);
      const total = l.predictions.reduce((s: number, p: { probability: number }) => s + p.probability, 0);
      expect(total).toBeLessThanOrEqual(1.0001);
    }
  });

  it("refuses a client whose model differs, with a clear message", async () => {
    const c = startCli([
      "coordinator", "--port", "0", "--host", "127.0.0.1", "--min-clients", "1", "--rounds", "1", "--model", "cnn",
      "--classes", "t-shirt-top,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot", "--backend", "wasm",
    ]);
    coordinator = c;
    const [, port] = await c.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const r = await runCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, "parts/client-1"), "--model", "large", "--backend", "wasm"]);
    c.child.kill();
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `fedfusion: coordinator at 127.0.0.1:${port} refused this client: model mismatch: model 'large' does not match the federation's model 'cnn'`,
    );
  });

  it("exits with a clear message when the coordinator cannot be reached", async () => {
    const r = await runCli(["client", "--coordinator", "127.0.0.1:1", "--data", path.join(dir, "parts/client-1"), "--connect-timeout", "2", "--backend", "wasm"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fedfusion: cannot reach coordinator at 127\.0\.0\.1:1: UNAVAILABLE: .+\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
