/**
 * The worker thread behind Heartbeats: one per process, beating for every agent of the process (a simulation
 * hosts several) over a gRPC channel of its own per agent, as long as the process's main thread shows life.
 * See Heartbeats for why, and for the messages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { CoordinatorConnection, type ConnectionOptions } from "./coordinatorConnection.js";
import type { HeartbeatMessage, HeartbeatWorkerData } from "./heartbeats.js";

const { stallLimitMs } = workerData as HeartbeatWorkerData;
const agents = new Map<number, { conn: CoordinatorConnection; timer?: NodeJS.Timeout }>();
let lastSignOfLife = Date.now();

/** Structured cloning turns the PEM Buffers into plain Uint8Arrays; grpc-js wants Buffers. */
function withBuffers(c: ConnectionOptions): ConnectionOptions {
  const tls = c.tls && { ca: c.tls.ca && Buffer.from(c.tls.ca), cert: c.tls.cert && Buffer.from(c.tls.cert), key: c.tls.key && Buffer.from(c.tls.key) };
  return { ...c, tls };
}

parentPort!.on("message", (m: HeartbeatMessage) => {
  lastSignOfLife = Date.now();
  if (m.kind === "open") {
    agents.set(m.agent, { conn: new CoordinatorConnection(withBuffers(m.connection)) });
  } else if (m.kind === "session") {
    const a = agents.get(m.agent);
    if (!a) return;
    clearInterval(a.timer);
    // A failed beat needs no handling here: the agent's next call meets the same problem and deals with it.
    const beat = () => {
      if (Date.now() - lastSignOfLife <= stallLimitMs) void a.conn.heartbeat(m.sessionId).catch(() => undefined);
    };
    a.timer = m.everyMs > 0 ? setInterval(beat, m.everyMs) : undefined;
  } else if (m.kind === "close") {
    const a = agents.get(m.agent);
    clearInterval(a?.timer);
    a?.conn.close();
    agents.delete(m.agent);
  }
});
