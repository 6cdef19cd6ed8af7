/**
 * The coordinator is killed after a round and restarted with --resume: it continues from its checkpoint,
 * the running clients re-join on their own, and the federation completes all its rounds.
 */
import path from "node:path";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, partitionedDir, runCli, startCli, type CliProcess } from "../helpers/cli.js";
import { freePort } from "../helpers/natsServer.js";


/** Waits until the checkpoint on disk holds `n` rounds. */
async function checkpointWithRounds(ckpt: string, n: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const state = await readFile(path.join(ckpt, "state.json"), "utf8").then((t) => JSON.parse(t), () => null);
    if (state?.rounds?.length >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no checkpoint with ${n} rounds in ${ckpt}`);
}

describe("coordinator checkpoints", () => {
  let dir: string;
  const procs: CliProcess[] = [];
  beforeAll(async () => {
    dir = await partitionedDir(2, 100, 200);
  });
  afterAll(() => killAll(procs, "SIGKILL"));

  it("resumes after a crash from the last completed round", async () => {
    const port = await freePort();
    const out = path.join(dir, "run");
    const args = [
      "coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "2", "--rounds", "3", "--test-data", path.join(dir, "parts/test"),
      "--checkpoint", path.join(dir, "ckpt"), "--resume", "--out", out, "--backend", "wasm",
      // A stateful strategy: its momentum must survive the crash too.
      "--strategy", "fedavgm", "--strategy-opt", "serverMomentum=0.9",
    ];
    const first = startCli(args);
    procs.push(first);
    await first.waitFor(/listening on/);
    const clients = [1, 2].map((i) =>
      startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, `parts/client-${i}`), "--name", `site-${i}`, "--backend", "wasm"]),
    );
    procs.push(...clients);
    await first.waitFor(/round 1\/3 +accuracy/);
    await checkpointWithRounds(path.join(dir, "ckpt"), 1);
    first.child.kill("SIGKILL");
    await first.exited;

    const second = startCli(args);
    procs.push(second);
    await second.waitFor(/resuming from .*: ([12]) rounds done, model version \1/);
    await second.waitFor(/restored fedavgm's server-side optimizer state \(momentum\)/);
    const results = await Promise.all([second.exited, ...clients.map((c) => c.exited)]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(second.output()).not.toMatch(/round 1\/3 +accuracy/);
    expect(second.output()).toMatch(/round 3\/3 +accuracy/);
    for (const c of clients) expect(c.output()).toMatch(/re-joined/);

    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(metrics.rounds.map((r: { round: number }) => r.round)).toEqual([1, 2, 3]);
    expect(metrics.final.modelVersion).toBe(3);

    // A finished checkpoint is not silently re-run.
    const again = await runCli(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds all 3 rounds; raise --rounds to train further/);
  });
});
