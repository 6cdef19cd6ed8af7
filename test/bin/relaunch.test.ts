/**
 * `fedfusion coordinator` and `fedfusion client` relaunch themselves with the V8 flags of shared/nodeFlags.ts:
 * the real process runs with them, signals sent to the launcher reach it, and killing the launcher never
 * leaves it running.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { missingNodeFlags } from "../../bin/relaunch.js";
import { NODE_FLAGS } from "../../shared/nodeFlags.js";
import path from "node:path";
import { childProcesses, killAll, partitionedDir, startCli, type CliProcess } from "../helpers/cli.js";

const COORDINATOR = ["coordinator", "--host", "127.0.0.1", "--port", "0", "--classes", "a,b", "--backend", "cpu"];

/** True while `pid` exists and is not a zombie (a zombie is dead, only not yet reaped). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function until(f: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (f()) return true;
  return f();
}

describe("fedfusion coordinator relaunch", () => {
  const procs: CliProcess[] = [];
  afterEach(() => killAll(procs.splice(0), "SIGKILL"));

  it("flags are compared by name, so a value the user chose is kept", () => {
    expect(missingNodeFlags(["--initial-old-space-size=256"], [], "")).toEqual(["--initial-old-space-size=256"]);
    expect(missingNodeFlags(["--initial-old-space-size=256"], ["--initial-old-space-size=512"], "")).toEqual([]);
    expect(missingNodeFlags(["--a=1", "--b"], ["--b"], "")).toEqual(["--a=1"]);
  });

  it("never relaunches under a debugger (the session would attach to the launcher)", () => {
    expect(missingNodeFlags(["--a=1"], ["--inspect-brk=9230"], "")).toEqual([]);
    expect(missingNodeFlags(["--a=1"], [], "--max-old-space-size=900 --inspect")).toEqual([]);
    expect(missingNodeFlags(["--a=1"], [], "--max-old-space-size=900")).toEqual(["--a=1"]);
  });

  it("runs the coordinator in a child with the coordinator's flags; SIGTERM to the launcher stops it gracefully", async () => {
    const p = startCli(COORDINATOR);
    procs.push(p);
    await p.waitFor(/listening on 127\.0\.0\.1:\d+/);
    const kids = childProcesses(p.child.pid!);
    expect(kids).toHaveLength(1);
    expect(kids[0].argv.slice(1, 1 + NODE_FLAGS.length)).toEqual(NODE_FLAGS);
    expect(kids[0].argv.slice(-COORDINATOR.length)).toEqual(COORDINATOR);

    p.child.kill("SIGTERM");
    const r = await p.exited;
    expect(r.stdout + r.stderr).toMatch(/stopping: interrupted/);
    expect(r.code).toBe(0);
    expect(running(kids[0].pid)).toBe(false);
  });

  it("started with the flags already, it runs in the same process", async () => {
    const p = startCli(COORDINATOR, {}, NODE_FLAGS);
    procs.push(p);
    await p.waitFor(/listening on/);
    expect(childProcesses(p.child.pid!)).toHaveLength(0);
    p.child.kill("SIGTERM");
    await p.exited;
  });

  it("SIGKILL to the launcher ends the coordinator too", async () => {
    const p = startCli(COORDINATOR);
    procs.push(p);
    await p.waitFor(/listening on/);
    const [kid] = childProcesses(p.child.pid!);
    p.child.kill("SIGKILL");
    // Not p.exited: an orphaned coordinator would hold the output pipes open, and that would never settle.
    expect(await until(() => !running(kid.pid), 10_000)).toBe(true);
  });

  it("a client runs in a child with the same flags, and SIGTERM to the launcher ends it", async () => {
    const dir = await partitionedDir(1, 20, 10);
    // Nothing listens on port 1: the client keeps trying to reach its coordinator until stopped.
    const p = startCli(["client", "--coordinator", "127.0.0.1:1", "--data", path.join(dir, "parts/client-1"), "--backend", "cpu", "--connect-timeout", "60"]);
    procs.push(p);
    // Until the child has exec'd: a child just forked still shows the launcher's own command line.
    const relaunched = () => childProcesses(p.child.pid!).filter((k) => k.argv.slice(1, 1 + NODE_FLAGS.length).join(" ") === NODE_FLAGS.join(" "));
    expect(await until(() => relaunched().length === 1, 20_000)).toBe(true);
    expect(childProcesses(p.child.pid!)).toHaveLength(1);
    const [kid] = relaunched();
    expect(kid.argv).toContain("client");
    p.child.kill("SIGTERM");
    await p.exited;
    expect(await until(() => !running(kid.pid), 10_000)).toBe(true);
  });
});
