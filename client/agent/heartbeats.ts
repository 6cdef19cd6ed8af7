/**
 * The client's heartbeats. The coordinator closes a session it has not heard from for its session timeout
 * (60 s by default), but the agent's own thread can be busy for longer than that in one synchronous step: a
 * training batch of a large model on the pure-JavaScript backend takes minutes. Beats sent only from that
 * thread would then stop, the session would be closed, and the site would lose every round it trains in.
 *
 * So the agent beats from its own thread, over its own connection, and a worker thread (one per process, for
 * all its agents) stands in while that thread is quiet: the main thread ticks the worker every 250 ms, and
 * after QUIET_MS without a tick the worker beats for each agent over a channel of its own, open only while it
 * stands in (a process whose main thread never stalls never opens a second connection). A thread that
 * never comes back must still stop being waited for: past `stallLimitMs` without a tick (by default 10
 * minutes, the coordinator's default round deadline) the process is taken as hung and its sessions time out.
 *
 * Running from TypeScript sources (the unit tests) there is no compiled worker script: the beats then come from
 * the agent's thread alone, as they do if the worker cannot start.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../../shared/logging.js";
import { workerScriptExists } from "../../shared/workerScript.js";
import type { ConnectionOptions, CoordinatorConnection } from "./coordinatorConnection.js";

export const STALL_LIMIT_MS = 10 * 60_000;
export const TICK_MS = 250;
/**
 * How long without a tick before the worker stands in: two missed ticks. Short, so that it beats in time even
 * for a session timeout of a second or two; a loop that merely paused that long costs one extra beat.
 */
export const QUIET_MS = 600;
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
let thread: HeartbeatThread | null = null;
let nextAgent = 0;

function heartbeatThread(stallLimitMs: number, log: Logger): HeartbeatThread | null {
  if (thread || !workerScriptExists(WORKER_URL)) return thread;
  const worker = new Worker(WORKER_URL, { workerData: { stallLimitMs } satisfies HeartbeatWorkerData });
  const t: HeartbeatThread = { worker, agents: new Set<Heartbeats>() };
  worker.unref(); // never what keeps the process running
  const ticker = setInterval(() => worker.postMessage({ kind: "alive" } satisfies HeartbeatMessage), TICK_MS).unref();
  // E.g. no memory for a new thread: the agents' own beats go on, with no stand-in while their thread is busy.
  worker.on("error", (e) => {
    log(`the heartbeat thread failed (${e.message.split("\n")[0]}); heartbeats now come from the main thread alone`);
    clearInterval(ticker);
    if (thread === t) thread = null;
    for (const a of t.agents) a.detach();
  });
  thread = t;
  return t;
}

export class Heartbeats {
  private readonly agent = nextAgent++;
  private onThread: HeartbeatThread | null;
  /** The beats from the agent's own thread. */
  private local: NodeJS.Timeout | undefined;
  private current: { sessionId: string; everyMs: number } | null = null;

  /**
   * `connection`: how the worker's channel reaches the coordinator (the agent's own options); `conn`: the
   * agent's connection, for the beats from its own thread. `stallLimitMs` applies to the process's thread as
   * the first agent starts it, and so does `log` (where the thread's failure is told).
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
    this.post({ kind: "session", agent: this.agent, sessionId, everyMs });
    clearInterval(this.local);
    // A failed beat needs no handling here: the agent's next call meets the same problem and deals with it.
    if (everyMs > 0) this.local = setInterval(() => void this.conn.heartbeat(sessionId).catch(() => undefined), everyMs).unref();
  }

  /** Whether the heartbeat thread stands in while the agent's thread is busy. */
  get threaded(): boolean {
    return this.onThread !== null;
  }

  stop(): void {
    clearInterval(this.local);
    this.post({ kind: "close", agent: this.agent });
    this.onThread?.agents.delete(this);
    this.onThread = null;
  }

  /** The thread failed: no stand-in from now on. */
  detach(): void {
    this.onThread = null;
  }

  private post(m: HeartbeatMessage): void {
    this.onThread?.worker.postMessage(m);
  }
}
