/**
 * The worker thread behind Heartbeats: one per process, standing in for every agent of the process (a
 * simulation hosts several) whose main thread has gone quiet. See Heartbeats for why, and for the messages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { CoordinatorConnection, type ConnectionOptions } from "./coordinatorConnection.js";
import { QUIET_MS, type HeartbeatMessage, type HeartbeatWorkerData } from "./heartbeats.js";

const { stallLimitMs } = workerData as HeartbeatWorkerData;
interface Agent {
  connection: ConnectionOptions;
  /** Open only while this thread beats for the agent: most processes never need it. */
  conn?: CoordinatorConnection;
  timer?: NodeJS.Timeout;
}
const agents = new Map<number, Agent>();
let lastSignOfLife = Date.now();

/** Structured cloning turns the PEM Buffers into plain Uint8Arrays; grpc-js wants Buffers. */
function withBuffers(c: ConnectionOptions): ConnectionOptions {
  const tls = c.tls && { ca: c.tls.ca && Buffer.from(c.tls.ca), cert: c.tls.cert && Buffer.from(c.tls.cert), key: c.tls.key && Buffer.from(c.tls.key) };
  return { ...c, tls };
}

parentPort!.on("message", (m: HeartbeatMessage) => {
  lastSignOfLife = Date.now();
  if (m.kind === "open") {
    agents.set(m.agent, { connection: withBuffers(m.connection) });
  } else if (m.kind === "session") {
    const a = agents.get(m.agent);
    if (!a) return;
    clearInterval(a.timer);
    // Only while the main thread is quiet (its own beats have stopped) and not yet taken as hung. A failed beat
    // needs no handling here: the agent's next call meets the same problem and deals with it.
    const beat = () => {
      const quiet = Date.now() - lastSignOfLife;
      if (quiet < QUIET_MS || quiet > stallLimitMs) {
        a.conn?.close(); // the main thread is back (or taken as hung): no second connection to keep
        a.conn = undefined;
        return;
      }
      a.conn ??= new CoordinatorConnection(a.connection);
      void a.conn.heartbeat(m.sessionId).catch(() => undefined);
    };
    a.timer = m.everyMs > 0 ? setInterval(beat, m.everyMs) : undefined;
  } else if (m.kind === "close") {
    const a = agents.get(m.agent);
    clearInterval(a?.timer);
    a?.conn?.close();
    agents.delete(m.agent);
  }
});
