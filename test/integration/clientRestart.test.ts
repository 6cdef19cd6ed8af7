/**
 * A site's client process hangs mid-federation and its admin starts another: the new process takes the site's
 * place at once (the round does not wait out its 10-minute deadline for the old session), and the old one,
 * woken again, is told that another process runs as its site and ends with that error instead of competing.
 * A client that dies and is not restarted stops being waited for once its session times out; one that comes back
 * to the same coordinator process joins again and keeps its model.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allExited, commandPid, killAll, partitionedDir, startCli, type CliProcess } from "../helpers/cli.js";
import { freePort } from "../helpers/natsServer.js";

describe("a client process that hangs, dies or is restarted", () => {
  let dir: string;
  const procs: CliProcess[] = [];
  beforeAll(async () => {
    dir = await partitionedDir(3, 100, 200);
  });
  afterAll(() => killAll(procs, "SIGKILL"));

  /** A coordinator waiting for two clients, listening once this resolves; `client(i)` starts site-i's client. */
  const federation = async (rounds: number, extra: string[] = []) => {
    const port = await freePort();
    const coordinator = startCli([
      "coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "2", "--rounds", String(rounds), "--test-data", path.join(dir, "parts/test"), "--backend", "wasm", ...extra,
    ]);
    procs.push(coordinator);
    await coordinator.waitFor(/listening on/);
    const client = (i: number) => {
      const p = startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, `parts/client-${i}`), "--name", `site-${i}`, "--backend", "wasm"]);
      procs.push(p);
      return p;
    };
    return { coordinator, client };
  };

  it("replaces its site's hung process, which then ends with a clear error", async () => {
    // Enough rounds (about 0.1 s each) that the federation is still running when the hung process wakes.
    const { coordinator, client } = await federation(30);
    const steady = client(1);
    const hung = client(2);
    await hung.waitFor(/joined 127/);
    const hungPid = commandPid(hung);
    process.kill(hungPid, "SIGSTOP");
    await coordinator.waitFor(/round 1\/30: 2 of 2 clients selected/);

    const restarted = client(2);
    await coordinator.waitFor(/client site-2 joined again from another process: its earlier session is closed/);
    process.kill(hungPid, "SIGCONT");
    const [h] = await allExited([hung]);
    expect(h.code).toBe(1);
    expect(h.stderr.trim().split("\n")).toEqual([
      "fedfusion: the coordinator closed this client's session (PERMISSION_DENIED: session closed: site site-2 joined again from another client process): is another client running as site-2?",
    ]);

    const results = await allExited([coordinator, steady, restarted]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(coordinator.output()).toMatch(/round 30\/30 +accuracy/);
    expect(restarted.output()).toMatch(/federation finished/);
  });

  it("stops waiting for a client that died once its session times out; live clients' heartbeats keep theirs", async () => {
    const { coordinator, client } = await federation(10, ["--session-timeout", "4"]);
    const clients = [1, 2, 3].map(client);
    await coordinator.waitFor(/client site-3 joined/);
    clients[2].child.kill("SIGKILL");
    const results = await allExited([coordinator, clients[0], clients[1]]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    const log = coordinator.output();
    expect(log).toMatch(/client site-3 timed out: nothing heard from it for [45] s/);
    expect(log).not.toMatch(/client site-[12] timed out/);
    expect(log).toMatch(/round 10\/10 +accuracy/);
  });

  it("lets a client whose session timed out join the same coordinator again and keep the model it holds", async () => {
    const { coordinator, client } = await federation(40, ["--session-timeout", "2"]);
    const clients = [1, 2].map(client);
    await clients[1].waitFor(/round 1: trained/);
    const frozen = commandPid(clients[1]);
    process.kill(frozen, "SIGSTOP"); // heartbeats stop too: the whole process is frozen
    await coordinator.waitFor(/client site-2 timed out/);
    process.kill(frozen, "SIGCONT");
    await clients[1].waitFor(/re-joined 127\.0\.0\.1:\d+ as site-2; the same coordinator process, so the cached global model is kept/);
    const results = await allExited([coordinator, ...clients]);
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
