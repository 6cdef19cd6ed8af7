/**
 * The event plane: with --events, the coordinator publishes the start, every round's metrics and the end of
 * the federation on a real NATS server, where a subscriber sees them as the run goes on, under the same
 * subjects when a checkpointed run is resumed.
 */
import path from "node:path";
import { connect, JSONCodec } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allExited, killAll, partitionedDir, runCli, startCli, tempDir } from "../helpers/cli.js";
import { freePort, startNatsServer } from "../helpers/natsServer.js";

type Event = Record<string, unknown> & { subject: string; kind: string };

/**
 * Subscribes to `subject` now; `events()` resolves with the messages received (each with its subject) once
 * `last` says one was the last, or rejects after 10 s counted from that call. The connection closes with it.
 */
async function collectEvents(url: string, subject: string, last: (e: Event, all: Event[]) => boolean) {
  const nc = await connect({ servers: url });
  const codec = JSONCodec<Record<string, unknown>>();
  const received: Event[] = [];
  const sub = nc.subscribe(subject);
  const collecting = (async () => {
    for await (const m of sub) {
      const e = { subject: m.subject, ...codec.decode(m.data) } as Event;
      received.push(e);
      if (last(e, received)) break;
    }
  })();
  return {
    events: async (): Promise<Event[]> => {
      try {
        await Promise.race([collecting, new Promise((_, reject) => setTimeout(() => reject(new Error(`events so far: ${received.map((e) => e.kind)}`)), 10_000))]);
        return received;
      } finally {
        await nc.close();
      }
    },
  };
}

describe("events on NATS", () => {
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(() => nats?.stop());

  it("publishes started, one message per round and finished", async () => {
    const sub = await collectEvents(nats.url, "fedfusion.*.*", (e) => e.kind === "finished");
    const r = await runCli(["simulate", "--clients", "2", "--samples", "100", "--rounds", "2", "--test-samples", "200", "--backend", "wasm", "--events", nats.url]);
    expect(r.code, r.stderr).toBe(0);
    const received = await sub.events();

    expect(received.map((m) => m.kind)).toEqual(["started", "round", "round", "finished"]);
    const id = received[0].federationId as string;
    expect(received.every((m) => m.subject === `fedfusion.${id}.${m.kind}`)).toBe(true);
    expect(received[1]).toMatchObject({ round: 1, rounds: 2, clients: 2 });
    expect(received[2]).toMatchObject({ round: 2, modelVersion: 2 });
    expect(typeof received[2].accuracy).toBe("number");
    expect((received[3].final as { accuracy: number }).accuracy).toBe(received[2].accuracy);
  });

  it("goes on under the same federation id when a checkpointed run is resumed, and says so", async () => {
    const dir = await tempDir();
    const sub = await collectEvents(nats.url, "fedfusion.*.started", (_, all) => all.length === 2);
    const run = (rounds: number) =>
      runCli(["simulate", "--clients", "2", "--samples", "60", "--rounds", String(rounds), "--backend", "wasm", "--events", nats.url, "--checkpoint", path.join(dir, "ckpt"), "--resume"]);
    expect((await run(1)).code).toBe(0);
    const second = await run(2);
    expect(second.code, second.stderr).toBe(0);
    const started = await sub.events();
    expect(started[1].subject).toBe(started[0].subject);
    expect(started[0].resumed).toBe(null);
    expect(started[1].resumed).toEqual({ rounds: 1, modelVersion: 1 });
  });

  it("says 'stopped', not 'finished', when a checkpointed coordinator is stopped before its last round", async () => {
    const dir = await partitionedDir(2, 60, 100);
    const sub = await collectEvents(nats.url, "fedfusion.*.*", (e) => e.kind === "stopped" || e.kind === "finished");
    const port = await freePort();
    const coordinator = startCli([
      "coordinator", "--port", String(port), "--host", "127.0.0.1", "--min-clients", "2", "--rounds", "30", "--backend", "wasm", "--test-data", path.join(dir, "parts/test"),
      "--checkpoint", path.join(dir, "ckpt"), "--events", nats.url,
    ]);
    const clients = [1, 2].map((i) =>
      startCli(["client", "--coordinator", `127.0.0.1:${port}`, "--data", path.join(dir, `parts/client-${i}`), "--name", `site-${i}`, "--backend", "wasm"]),
    );
    let kinds: string[];
    try {
      await coordinator.waitFor(/round 1\/30 +accuracy/);
      coordinator.child.kill("SIGTERM");
      const [c] = await allExited([coordinator]);
      expect(c.code, c.stderr).toBe(0);
      kinds = (await sub.events()).map((e) => e.kind);
    } finally {
      killAll(clients, "SIGKILL");
    }
    expect(kinds[0]).toBe("started");
    expect(kinds.at(-1)).toBe("stopped");
    expect(kinds.slice(1, -1).every((k) => k === "round")).toBe(true);
  });

  it("refuses to start when NATS cannot be reached, in one line", async () => {
    const r = await runCli(["simulate", "--clients", "1", "--rounds", "1", "--samples", "20", "--backend", "wasm", "--events", "nats://127.0.0.1:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fedfusion: cannot reach NATS at nats:\/\/127\.0\.0\.1:1 for --events: .+\n$/);
  });
});
