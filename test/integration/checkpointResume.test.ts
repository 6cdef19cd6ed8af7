/**
 * The coordinator is killed after a round and restarted with --resume: it continues from its checkpoint,
 * the running clients re-join on their own, and the federation completes all its rounds. A checkpoint it
 * cannot write stops the run with that error.
 */
import path from "node:path";
import { readFile, rm, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allExited, killAll, partitionedDir, runCli, startCli, type CliProcess } from "../helpers/cli.js";
import { freePort } from "../helpers/natsServer.js";


/** Waits until the checkpoint on disk holds `n` rounds. */
async function checkpointWithRounds(ckpt: string, n: number): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const state = await readFile(path.join(ckpt, "state.json"), "utf8").then((t) => JSON.parse(t), () => null);
    if (state?.rounds?.length >= n) return;
    await new Promise((r) => setTimeout(r, 20));
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

  // SIGKILL: a crash. SIGTERM: a restart or an upgrade, which must not send the clients home either.
  it.each(["SIGKILL", "SIGTERM"] as const)("resumes after %s from the last completed round, with the same clients", async (signal) => {
    const port = await freePort();
    const out = path.join(dir, `run-${signal}`);
    const ckpt = path.join(dir, `ckpt-${signal}`);
    // A round of this size takes about 0.1 s: enough of them that the crash, soon after the first
    // checkpoint, comes well before the last (8 were once all done within 0.9 s of it).
    const rounds = 30;
    const args = [
      "coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "2", "--rounds", String(rounds), "--test-data", path.join(dir, "parts/test"),
      "--checkpoint", ckpt, "--resume", "--out", out, "--backend", "wasm",
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
    await checkpointWithRounds(ckpt, 1);
    first.child.kill(signal);
    const [stopped] = await allExited([first]);
    if (signal === "SIGTERM") {
      expect(stopped.code).toBe(0);
      expect(stopped.stdout).toMatch(/interrupted: the clients were not told the federation finished; they re-join when it is restarted with --resume/);
    }
    for (const c of clients) expect(c.child.exitCode).toBe(null);

    const second = startCli(args);
    procs.push(second);
    const [, done] = await second.waitFor(/resuming from .*: (\d+) rounds done, model version \1/);
    expect(Number(done)).toBeLessThan(rounds);
    await second.waitFor(/restored fedavgm's server-side optimizer state \(momentum\)/);
    const results = await allExited([second, ...clients]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(second.output()).not.toMatch(new RegExp(`round ${done}/${rounds} +accuracy`));
    expect(second.output()).toMatch(new RegExp(`round ${rounds}/${rounds} +accuracy`));
    // Their cached model may be newer than the checkpoint, its version number reused for other weights now.
    for (const c of clients) expect(c.output()).toMatch(/re-joined .*; the coordinator restarted, so the cached global model is dropped/);
    // The same federation, under the same id (its NATS subjects).
    const id = (p: CliProcess) => p.output().match(/coordinator {2}federation (\S+)/)?.[1];
    expect(id(second)).toBe(id(first));
    expect(id(first)).toMatch(/^[0-9a-f-]{36}$/);

    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(metrics.rounds.map((r: { round: number }) => r.round)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));
    expect(metrics.final.modelVersion).toBe(rounds);

    // A finished checkpoint is not silently re-run.
    const again = await runCli(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`already holds all ${rounds} rounds; raise --rounds to train further`));
  });

  it("refuses at start a checkpoint directory it cannot create, in one line", async () => {
    const blocker = path.join(dir, "a-file");
    await writeFile(blocker, "not a directory");
    const r = await runCli(["coordinator", "--port", "0", "--min-clients", "1", "--rounds", "1", "--test-data", path.join(dir, "parts/test"), "--checkpoint", path.join(blocker, "ckpt"), "--backend", "cpu"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^fedfusion: cannot create the checkpoint directory .*a-file\/ckpt: ENOTDIR/)]);
  });

  it("ends with the error when a checkpoint cannot be written; its clients wait for a restart", async () => {
    const port = await freePort();
    const ckpt = path.join(dir, "ckpt-lost");
    const args = [
      "coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "1", "--rounds", "3", "--test-data", path.join(dir, "parts/test"),
      "--checkpoint", ckpt, "--resume", "--backend", "wasm",
    ];
    const first = startCli(args);
    procs.push(first);
    await first.waitFor(/listening on/);
    // The directory vanishes under the running coordinator, and a file takes its place.
    await rm(ckpt, { recursive: true });
    await writeFile(ckpt, "not a directory");
    const client = startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, "parts/client-1"), "--name", "site-1", "--backend", "wasm"]);
    procs.push(client);
    const [c] = await allExited([first]);
    expect(c.code).toBe(1);
    expect(c.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^fedfusion: cannot write the checkpoint in .*ckpt-lost: ENOTDIR/)]);
    expect(c.stdout).not.toMatch(/round 2\/3 +accuracy/);
    expect(await readFile(ckpt, "utf8")).toBe("not a directory");

    // Not told the federation finished, the client is still there for the coordinator once its disk is fixed.
    expect(client.child.exitCode).toBe(null);
    await rm(ckpt);
    const second = startCli(args);
    procs.push(second);
    const results = await allExited([second, client]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(client.output()).toMatch(/re-joined/);
    expect(second.output()).toMatch(/round 3\/3 +accuracy/);
  });
});
