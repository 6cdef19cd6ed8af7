/**
 * A worker thread stands in for a client whose main thread is stuck in one long synchronous step (minutes
 * per training batch on the pure-JavaScript backend), so it keeps its session, over mutual TLS too; a main
 * thread silent for longer than the stall limit is taken as hung and its session times out. Real coordinator,
 * real gRPC, a real client process (the compiled worker) whose main thread is blocked outright (Atomics.wait).
 */
import { execFile, execFileSync } from "node:child_process";
import { readFile, readdir, readlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, ROOT, startCli, startNode, tempDir, type CliProcess } from "../../helpers/cli.js";
import { freePort } from "../../helpers/natsServer.js";

const dist = (p: string) => JSON.stringify(path.join(ROOT, "dist", p));

/** Established TCP connections of process `pid` to `port` (its socket descriptors matched in /proc/net/tcp{,6}). */
async function connectionsTo(pid: number, port: number): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  let n = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of (await readFile(table, "utf8")).split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const remotePort = parseInt(f[2]!.split(":")[1]!, 16);
      if (remotePort === port && f[3] === "01" && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Joins as SITE (over mutual TLS with TLS_DIR's site-a certificate, if given), starts Heartbeats, blocks the
 * main thread for BLOCK_MS, then asks for a task with its session, and stays LINGER_MS (default 0) longer.
 */
const SLOW_SITE = `
import { readFileSync } from "node:fs";
import { CoordinatorConnection } from ${dist("client/agent/coordinatorConnection.js")};
import { Heartbeats } from ${dist("client/agent/heartbeats.js")};
const [address, stallLimitMs, blockMs, site, tlsDir, lingerMs] = process.argv.slice(2);
const pem = (f) => readFileSync(tlsDir + "/" + f);
const connection = { address, tls: tlsDir ? { ca: pem("ca.crt"), cert: pem("site-a.crt"), key: pem("site-a.key") } : undefined };
const conn = new CoordinatorConnection(connection);
const joined = await conn.join({
  siteName: site, numExamples: 10, backend: "test", clientVersion: "test", instanceId: "slow-1", supportedEncodings: [1], extensions: {},
  model: { architecture: "", fingerprint: "", inputShape: [], classNames: [], parameterCount: 0, configJson: "" },
});
const heartbeats = new Heartbeats(connection, conn, (line) => console.log(line), Number(stallLimitMs));
heartbeats.every(joined.sessionId, joined.heartbeatMs);
console.log("threaded " + heartbeats.threaded + ", beating every " + joined.heartbeatMs + " ms");
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(blockMs));
try {
  const task = await conn.getTask(joined.sessionId, 0);
  console.log("session kept: " + task.kind?.$case);
} catch (e) {
  console.log("session lost: " + e.details);
}
await new Promise((resolve) => setTimeout(resolve, Number(lingerMs ?? 0)));
heartbeats.stop();
conn.close();
`;

describe("client heartbeats", () => {
  let dir: string;
  let script: string;
  const procs: CliProcess[] = [];
  beforeAll(async () => {
    dir = await tempDir();
    script = path.join(dir, "slowSite.mjs");
    await writeFile(script, SLOW_SITE);
  });
  afterAll(() => killAll(procs, "SIGKILL"));

  /**
   * No round starts (it waits for 5 clients); sessions time out after 4 s of silence, beats every second. The
   * margin is for the stand-in's channel: it connects (and shakes hands, with TLS) only once it is needed.
   */
  const coordinator = async (tls: string[] = []) => {
    const port = await freePort();
    const p = startCli(["coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "5", "--classes", "a,b", "--session-timeout", "4", "--backend", "wasm", ...tls]);
    procs.push(p);
    await p.waitFor(/listening on/);
    return { p, address: `${tls.length > 0 ? "localhost" : "127.0.0.1"}:${port}` };
  };
  const slowSite = async (address: string, stallLimitMs: number, blockMs: number, site = "slow-site", tlsDir?: string) =>
    (await promisify(execFile)(process.execPath, [script, address, String(stallLimitMs), String(blockMs), site, ...(tlsDir ? [tlsDir] : [])], { timeout: 60_000 })).stdout;

  it("keep a session alive while the client's main thread is blocked for longer than the session timeout", async () => {
    const c = await coordinator();
    const out = await slowSite(c.address, 60_000, 9_000);
    expect(out).toContain("threaded true, beating every 1000 ms");
    expect(out).toContain("session kept: wait");
    expect(c.p.output()).not.toMatch(/slow-site timed out/);
  });

  it("open the stand-in's own connection only while it stands in, and close it once the main thread is back", async () => {
    const c = await coordinator();
    const port = Number(c.address.split(":")[1]);
    const site = startNode([script, c.address, "60000", "4000", "conn-site", "", "4000"]);
    procs.push(site);
    await site.waitFor(/threaded true/); // printed just before the main thread blocks for 4 s
    await sleep(2_500);
    expect(await connectionsTo(site.child.pid!, port)).toBe(2); // the agent's own, idle, and the stand-in's
    await site.waitFor(/session kept: wait/);
    await sleep(2_000); // the main thread ticks again: the stand-in lets its channel go
    expect(await connectionsTo(site.child.pid!, port)).toBe(1);
    await site.exited;
  });

  it("stand in over the site's own mutual-TLS identity", async () => {
    const tlsDir = path.join(dir, "tls");
    execFileSync("bash", [path.join(ROOT, "deploy/tls/make-certs.sh"), tlsDir, "localhost", "site-a"]);
    const c = await coordinator(["--tls-cert", path.join(tlsDir, "coordinator.crt"), "--tls-key", path.join(tlsDir, "coordinator.key"), "--tls-client-ca", path.join(tlsDir, "ca.crt")]);
    const out = await slowSite(c.address, 60_000, 9_000, "site-a", tlsDir);
    expect(out).toContain("session kept: wait");
    expect(out).not.toMatch(/heartbeat thread failed/);
    expect(c.p.output()).not.toMatch(/site-a timed out/);
  });

  it("stop once the main thread has been silent for longer than the stall limit, so a hung client times out", async () => {
    const c = await coordinator();
    const out = await slowSite(c.address, 1_000, 9_000);
    expect(out).toContain("threaded true");
    expect(out).toContain("session lost: unknown session: join again");
    expect(c.p.output()).toMatch(/client slow-site timed out: nothing heard from it for [4-6] s/);
  });
});
