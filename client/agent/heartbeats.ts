/**
 * The client's heartbeats. The coordinator closes a session it has not heard from for its session timeout
 * (60 s by default), but the agent's own thread can be busy for longer than that in one synchronous step: a
 * training batch of a large model on the pure-JavaScript backend takes minutes. Beats sent from that thread
 * then stop, the session is closed, and the site loses every round it trains in. So the beats come from a
 * worker thread (one per process, for all its agents), each agent's over a gRPC channel of its own.
 *
 * A thread that never comes back must still stop being waited for: the main thread ticks the worker every
 * second, and the worker beats only while the last tick is at most `stallLimitMs` old (by default 10 minutes,
 * the coordinator's default round deadline). Past that the process is taken as hung, and its sessions time out.
 *
 * Running from TypeScript sources (the unit tests) there is no compiled worker script: the beats then come from
 * the agent's thread, as they do if the worker cannot start.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../../shared/logging.js";
import { workerScriptExists } from "../../shared/workerScript.js";
import type { ConnectionOptions, CoordinatorConnection } from "./coordinatorConnection.js";

export const STALL_LIMIT_MS = 10 * 60_000;
const TICK_MS = 1_000;
const WORKER_URL = new URL("./heartbeatWorker.js", import.meta.url);

export interface HeartbeatWorkerData {
  stallLimitMs: number;
}

/** Main thread → worker. Every message is also a sign of life. */
export type HeartbeatMessage =
  | { kind: "open"; agent: number; connection: ConnectionOptions }
  | { kind: "session"; agent: number; sessionId: string; everyMs: number }
  | { kind: "close"; agent: number }
  | { kind: "alive" };

interface HeartbeatThread {
  worker: Worker;
  agents: Set<Heartbeats>;
}

/** The process's heartbeat thread, started with the first agent; null where it cannot run. */
let thread: HeartbeatThread | null = null as HeartbeatThread | null;
let nextAgent = 0;

function heartbeatThread(stallLimitMs: number, log: Logger): HeartbeatThread | null {
  if (thread || !workerScriptExists(WORKER_URL)) return thread;
  const worker = new Worker(WORKER_URL, { workerData: { stallLimitMs } satisfies HeartbeatWorkerData });
  const t: HeartbeatThread = { worker, agents: new Set<Heartbeats>() };
  worker.unref(); // never what keeps the process running
  const ticker = setInterval(() => worker.postMessage({ kind: "alive" } satisfies HeartbeatMessage), TICK_MS).unref();
  // E.g. no memory for a new thread: every agent goes back to beating from its own thread.
  worker.on("error", (e) => {
    log(`the heartbeat thread failed (${e.message.split("\n")[0]}); heartbeats now come from the main thread`);
    clearInterval(ticker);
    if (thread === t) thread = null;
    for (const a of t.agents) a.fallBack();
  });
  thread = t;
  return t;
}

export class Heartbeats {
  private readonly agent = nextAgent++;
  private onThread: HeartbeatThread | null;
  /** The agent-thread fallback's timer. */
  private local: NodeJS.Timeout | undefined;
  private current: { sessionId: string; everyMs: number } | null = null;

  /**
   * `connection`: how the worker's channel reaches the coordinator (the agent's own options); `conn`: the
   * agent's connection, for beats from its own thread. `stallLimitMs` applies to the process's thread as the
   * first agent starts it, and so does `log` (where the thread's failure is told).
   */
  constructor(
    connection: ConnectionOptions,
    private readonly conn: CoordinatorConnection,
    log: Logger,
    stallLimitMs = STALL_LIMIT_MS,
  ) {
    this.onThread = heartbeatThread(stallLimitMs, log);
    this.onThread?.agents.add(this);
    this.post({ kind: "open", agent: this.agent, connection });
  }

  /** Beat for `sessionId` every `everyMs` (0: never), from now on. */
  every(sessionId: string, everyMs: number): void {
    if (this.current?.sessionId === sessionId && this.current.everyMs === everyMs) return;
    this.current = { sessionId, everyMs };
    if (this.onThread) return this.post({ kind: "session", agent: this.agent, sessionId, everyMs });
    clearInterval(this.local);
    if (everyMs > 0) this.local = setInterval(() => void this.conn.heartbeat(sessionId).catch(() => undefined), everyMs).unref();
  }

  /** Whether the beats come from the heartbeat thread (false: from the agent's own). */
  get threaded(): boolean {
    return this.onThread !== null;
  }

  stop(): void {
    clearInterval(this.local);
    this.post({ kind: "close", agent: this.agent });
    this.onThread?.agents.delete(this);
    this.onThread = null;
  }

  /** The thread failed: beat from the agent's thread from now on. */
  fallBack(): void {
    this.onThread = null;
    const c = this.current;
    this.current = null;
    if (c) this.every(c.sessionId, c.everyMs);
  }

  private post(m: HeartbeatMessage): void {
    this.onThread?.worker.postMessage(m);
  }
}
