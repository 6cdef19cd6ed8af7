/**
 * The worker thread behind Heartbeats: one per process, standing in for every agent of the process (a
 * simulation hosts several) whose main thread has gone quiet. See Heartbeats for why, and for the messages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { CoordinatorConnection, type ConnectionOptions } from "./coordinatorConnection.js";
import { QUIET_MS, TICK_MS, type HeartbeatMessage, type HeartbeatWorkerData } from "./heartbeats.js";

const { stallLimitMs } = workerData as HeartbeatWorkerData;
interface Agent {
  connection: ConnectionOptions;
  session?: { id: string; everyMs: number };
  /** Open only while this thread beats for the agent: most processes never need it. */
  conn?: CoordinatorConnection;
  /** When this thread last beat for the agent (0: not since the main thread was last heard from). */
  lastBeat: number;
}
const agents = new Map<number, Agent>();
let lastSignOfLife = Date.now();

/** Structured cloning turns the PEM Buffers into plain Uint8Arrays; grpc-js wants Buffers. */
function withBuffers(c: ConnectionOptions): ConnectionOptions {
  const tls = c.tls && { ca: c.tls.ca && Buffer.from(c.tls.ca), cert: c.tls.cert && Buffer.from(c.tls.cert), key: c.tls.key && Buffer.from(c.tls.key) };
  return { ...c, tls };
}

/**
 * Checked every tick, so a stand-in starts within a tick of the main thread going quiet (its own beats may
 * already be almost a beat interval old) and then beats at the agent's interval. A failed beat needs no
 * handling here: the agent's next call meets the same problem and deals with it.
 */
function standIn(): void {
  const now = Date.now();
  const quiet = now - lastSignOfLife;
  for (const a of agents.values()) {
    if (quiet < QUIET_MS || quiet > stallLimitMs || !a.session || a.session.everyMs <= 0) {
      a.conn?.close(); // the main thread is back (or taken as hung): no second connection to keep
      a.conn = undefined;
      a.lastBeat = 0;
    } else if (now - a.lastBeat >= a.session.everyMs) {
      a.conn ??= new CoordinatorConnection(a.connection);
      a.lastBeat = now;
      void a.conn.heartbeat(a.session.id).catch(() => undefined);
    }
  }
}
setInterval(standIn, TICK_MS);

parentPort!.on("message", (m: HeartbeatMessage) => {
  lastSignOfLife = Date.now();
  if (m.kind === "open") {
    agents.set(m.agent, { connection: withBuffers(m.connection), lastBeat: 0 });
  } else if (m.kind === "session") {
    const a = agents.get(m.agent);
    if (a) a.session = { id: m.sessionId, everyMs: m.everyMs };
  } else if (m.kind === "close") {
    agents.get(m.agent)?.conn?.close();
    agents.delete(m.agent);
  }
});
