/**
 * A site's link is flaky: the client starts before the coordinator exists, and a proxy between them cuts
 * every connection several times mid-transfer. The client rides it out and the federation completes.
 */
import net from "node:net";
import path from "node:path";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allExited, killAll, partitionedDir, startCli, type CliProcess } from "../helpers/cli.js";

/** Forwards loopback TCP; after every `cutEvery` bytes towards the client it destroys all open connections. */
function flakyProxy(targetPort: () => number | null, cutEvery: number) {
  const sockets = new Set<net.Socket>();
  let sinceCut = 0;
  let cuts = 0;
  const server = net.createServer((client) => {
    const port = targetPort();
    if (port === null) return client.destroy(); // nothing listening yet: like a refused connection
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.on("data", (d: Buffer) => {
      sinceCut += d.length;
      client.write(d);
      if (sinceCut > cutEvery && cuts < 3) {
        sinceCut = 0;
        cuts++;
        for (const s of sockets) s.destroy();
        sockets.clear();
      }
    });
  });
  return { server, cuts: () => cuts };
}

describe("a client on a flaky link", () => {
  let dir: string;
  const procs: CliProcess[] = [];
  beforeAll(async () => {
    dir = await partitionedDir(2, 100, 200);
  });
  afterAll(() => killAll(procs));

  it("connects once the coordinator comes up and survives connections cut mid-transfer", async () => {
    let coordinatorPort: number | null = null;
    // The `large` model is ~1 MB: a cut every 600 kB lands inside model downloads.
    const proxy = flakyProxy(() => coordinatorPort, 600_000);
    await new Promise<void>((r) => proxy.server.listen(0, "127.0.0.1", r));
    const proxyPort = (proxy.server.address() as net.AddressInfo).port;
    const out = path.join(dir, "run");

    const flaky = startCli(["client", "--coordinator", `127.0.0.1:${proxyPort}`, "--data", path.join(dir, "parts/client-1"), "--name", "flaky", "--backend", "wasm", "--connect-timeout", "60"]);
    procs.push(flaky);
    await new Promise((r) => setTimeout(r, 2_000)); // the client is already knocking
    const coordinator = startCli([
      "coordinator", "--port", "0", "--host", "127.0.0.1", "--min-clients", "2", "--rounds", "2", "--model", "large",
      "--test-data", path.join(dir, "parts/test"), "--out", out, "--backend", "wasm",
    ]);
    procs.push(coordinator);
    coordinatorPort = Number((await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const steady = startCli(["client", "--coordinator", `127.0.0.1:${coordinatorPort}`, "--data", path.join(dir, "parts/client-2"), "--name", "steady", "--backend", "wasm"]);
    procs.push(steady);

    const results = await allExited([coordinator, flaky, steady]);
    proxy.server.close();
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(proxy.cuts()).toBeGreaterThan(0);
    expect(flaky.output()).toMatch(/join failed \(UNAVAILABLE.*retry \d+ in/); // before the coordinator was up
    expect(flaky.output()).toMatch(/(download|get task|upload) failed \(.*retry \d+ in/); // cut mid-transfer
    const metrics = JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
    expect(metrics.rounds.map((r: { clients: number }) => r.clients)).toEqual([2, 2]);
  });
});
