/**
 * The federation's rounds as a state machine:
 *   waiting (for min clients) → training (selected clients fetch the model, train, upload) →
 *   aggregating (strategy) → next round … → final evaluation (by the clients) → done.
 * The central evaluation of each new global model runs while the next round trains; the round is
 * recorded (the "round" event) when it completes, always before the next aggregation.
 * It knows clients by session id only; the gRPC layer decodes requests into calls on this class.
 */
import { EventEmitter } from "node:events";
import { scheduledRate } from "../../shared/model/learningRateSchedule.js";
import { hashName, Random } from "../../shared/random.js";
import type { RoundAggregation, Strategy } from "../strategies/strategy.js";
import { validateUpdate } from "../validation/validateUpdate.js";
import { summariseEvaluations } from "./evaluationSummary.js";
import { Sessions } from "./sessions.js";
import type {
  CentralEvaluation,
  ClientInfo,
  FederatedEvaluation,
  SiteEvaluation,
  UpdateEncoding,
  ClientRecord,
  RoundRecord,
  RoundSettings,
  Task,
  Update,
  UpdateVerdict,
} from "./types.js";

type Phase = "waiting" | "training" | "aggregating" | "evaluating" | "done";

/** After the last round, the connected clients evaluate the final model on their held-out data. */
interface FinalEvaluation {
  version: number;
  requested: Set<string>;
  reports: Map<string, SiteEvaluation>;
  timer: NodeJS.Timeout;
}

/** How long the final federated evaluation waits for reports at most. */
const FINAL_EVALUATION_TIMEOUT_MS = 60_000;

interface OpenRound {
  number: number;
  startVersion: number;
  evaluations: Map<string, SiteEvaluation>;
  startedAt: number;
  selected: Set<string>;
  /**
   * Sessions whose update for this round was taken, or refused as invalid (shape, NaN, norm, example count):
   * the round waits for neither, and neither is asked to train it again (it would send the same kind of update).
   */
  answered: Set<string>;
  aggregation: RoundAggregation;
  rejected: Record<string, number>;
  trainStats: { loss: number; accuracy: number; examples: number };
  bytesUp: number;
  bytesDown: number;
  deadline: number;
  timer: NodeJS.Timeout;
}

export interface RoundStateMachineOptions {
  settings: RoundSettings;
  shapes: number[][];
  /** Owned by the machine from here on: a round may write the next global weights over these arrays. */
  initialWeights: Float32Array[];
  strategy: Strategy;
  /** Central evaluation of a new global model; null when there is no test set. */
  evaluate?: (weights: Float32Array[]) => Promise<CentralEvaluation | null>;
  log?: (line: string) => void;
  /** Continue a checkpointed federation: the rounds it completed and the model version it reached. */
  resume?: { history: RoundRecord[]; modelVersion: number };
  /**
   * Resolves once every recorded round is durable (its checkpoint written). The machine waits for it after
   * the last round, before any client can hear "finished" and exit: a crash in between would otherwise
   * leave a checkpoint one round short, and no clients to resume it with.
   */
  durable?: () => Promise<void>;
}

export interface RoundStateMachineEvents {
  round: [RoundRecord];
  done: [RoundRecord[]];
}

export class RoundStateMachine extends EventEmitter<RoundStateMachineEvents> {
  private phase: Phase = "waiting";
  private readonly sessions = new Sessions();
  private weights: Float32Array[];
  private version = 0;
  private open: OpenRound | null = null;
  private finalEval: FinalEvaluation | null = null;
  private finalFederated: FederatedEvaluation | null = null;
  private lastRound = 0;
  private readonly history: RoundRecord[] = [];
  private readonly rng: Random;
  /** Closes sessions gone silent (see RoundSettings.sessionTimeoutMs). */
  private sweeper: NodeJS.Timeout | null = null;
  /**
   * Long-polling GetTask calls, woken (to look at their task again) by every change that can give a session
   * a task: a round starting or ending, the final evaluation, the end. Not by a join or a leave on its own,
   * which gives no other session a task: with thousands of clients long-polling, waking them all per join
   * made joining quadratic (10,000 joins: 8.9 s of CPU).
   */
  private readonly waiters = new Set<() => void>();
  private readonly log: (line: string) => void;
  /** The last finished round's central evaluation and record (the next round trains meanwhile). */
  private recording: Promise<void> = Promise.resolve();

  constructor(private readonly options: RoundStateMachineOptions) {
    super();
    this.weights = options.initialWeights;
    const resume = options.resume;
    if (resume) {
      this.history.push(...resume.history);
      this.lastRound = resume.history.at(-1)?.round ?? 0;
      this.version = resume.modelVersion;
    }
    // A resumed run draws its client samples from a stream of its own, derived from the seed and the round.
    this.rng = new Random(resume ? (options.settings.seed ^ Math.imul(this.lastRound, 0x9e3779b1)) >>> 0 : options.settings.seed);
    this.log = options.log ?? (() => {});
    const timeout = options.settings.sessionTimeoutMs ?? 0;
    if (timeout > 0) {
      const every = Math.max(100, timeout / 8);
      let last = Date.now();
      this.sweeper = setInterval(() => {
        const now = Date.now();
        // A coordinator that was itself stuck (a long synchronous aggregation) heard from nobody meanwhile:
        // the stall is not the clients' silence.
        if (now - last > 2 * every) this.sessions.excuse(now - last - every);
        last = now;
        this.closeSilentSessions(timeout);
      }, every);
      this.sweeper.unref();
    }
  }

  get modelVersion(): number {
    return this.version;
  }

  get globalWeights(): readonly Float32Array[] {
    return this.weights;
  }

  get rounds(): readonly RoundRecord[] {
    return this.history;
  }

  get isDone(): boolean {
    return this.phase === "done";
  }

  /** The clients' evaluation of the final model, once the federation is done. */
  get finalFederatedEvaluation(): FederatedEvaluation | null {
    return this.finalFederated;
  }

  get connectedClients(): number {
    return this.sessions.size;
  }

  client(sessionId: string): ClientRecord | undefined {
    return this.sessions.get(sessionId);
  }

  /** A new session, or the same one for a repeated join (see Sessions.join); a site's older session is closed. */
  join(info: ClientInfo): ClientRecord {
    const { record, again, replaced } = this.sessions.join(info, Date.now());
    if (again) return record;
    if (replaced) this.forget(replaced, `client ${info.siteName} joined again from another process: its earlier session is closed`);
    this.log(`client ${info.siteName} joined (${info.numExamples} examples, ${info.backend}); ${this.sessions.size} connected`);
    this.maybeStartRound(); // which wakes the long-polls when it starts a round
    return record;
  }

  leave(sessionId: string, reason: string): void {
    const c = this.sessions.remove(sessionId);
    if (c) this.forget(c, `client ${c.siteName} left: ${reason || "no reason given"}`);
  }

  /** A call from this session: it is alive. False when the session is not (or no longer) known. */
  heardFrom(sessionId: string): boolean {
    return this.sessions.heardFrom(sessionId, Date.now());
  }

  /** Why a session that is no longer known was closed, if the machine closed it (see join). */
  closedReason(sessionId: string): string | undefined {
    return this.sessions.closedReason(sessionId);
  }

  /**
   * A client that crashed, lost its link or was switched off never says goodbye: without this, its session
   * would be selected and waited for (each round to its deadline) and count towards min clients forever.
   * If it was only slow, its next call finds the session gone and joins again.
   */
  private closeSilentSessions(timeoutMs: number): void {
    if (this.phase === "done") return;
    const now = Date.now();
    for (const c of this.sessions.silentSince(now - timeoutMs)) {
      this.sessions.remove(c.sessionId);
      this.forget(c, `client ${c.siteName} timed out: nothing heard from it for ${((now - c.lastSeen) / 1000).toFixed(0)} s`);
    }
  }

  /** A session gone from `sessions`: the open round and the final evaluation stop waiting for it. */
  private forget(c: ClientRecord, line: string): void {
    this.log(line);
    const open = this.open;
    // Closing the round or finishing the evaluation wakes the long-polls; a session gone gives no other one a task.
    if (open && open.selected.delete(c.sessionId)) this.maybeCloseRound();
    if (this.finalEval?.requested.delete(c.sessionId)) this.maybeFinishEvaluation();
  }

  /** The task for this session right now. */
  taskFor(sessionId: string): Task {
    const done = this.finishedTask();
    if (done) return done;
    const open = this.open;
    if (this.phase === "training" && open && open.selected.has(sessionId) && !open.answered.has(sessionId)) {
      const t = this.options.settings;
      const client = this.sessions.get(sessionId)!;
      const wanted = t.training.updateEncoding;
      const updateEncoding: UpdateEncoding = client.encodings.includes(wanted.encoding) ? wanted : { encoding: "float32", topkFraction: 0 };
      return {
        kind: "train",
        round: open.number,
        modelVersion: this.version,
        seed: (t.seed * 1_000_003 + open.number * 7919 + hashName(client.siteName)) >>> 0,
        deadline: open.deadline,
        training: {
          ...t.training,
          learningRate: scheduledRate(t.training.learningRate, t.training.learningRateSchedule, open.number, t.rounds),
          updateEncoding,
        },
      };
    }
    const fe = this.finalEval;
    if (this.phase === "evaluating" && fe && fe.requested.has(sessionId) && !fe.reports.has(sessionId)) {
      return { kind: "evaluate", round: this.lastRound, modelVersion: fe.version };
    }
    if (this.phase === "waiting") return { kind: "wait", reason: `waiting for ${this.options.settings.minClients} clients (${this.sessions.size} connected)` };
    return { kind: "wait", reason: `round ${open?.number ?? this.lastRound} in progress` };
  }

  /** Long-poll: resolves with a non-wait task as soon as there is one, or with wait after waitMs. */
  waitForTask(sessionId: string, waitMs: number, signal?: AbortSignal): Promise<Task> {
    const now = this.taskFor(sessionId);
    if (now.kind !== "wait" || waitMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(onChange);
        signal?.removeEventListener("abort", finish);
        resolve(this.taskFor(sessionId));
      };
      const onChange = () => {
        if (this.taskFor(sessionId).kind !== "wait") finish();
      };
      const timer = setTimeout(finish, waitMs);
      this.waiters.add(onChange);
      signal?.addEventListener("abort", finish);
    });
  }

  /** Checks whether an upload for this round may start, before its bytes are received. */
  admitUpload(sessionId: string, round: number, baseModelVersion: number): UpdateVerdict {
    const open = this.open;
    if (!this.sessions.get(sessionId)) return reject("unknown-session", "unknown session; join again");
    if (!open || this.phase !== "training" || round !== open.number) {
      return reject("stale-round", `round ${round} is not open (current: ${open?.number ?? "none"})`);
    }
    if (!open.selected.has(sessionId)) return reject("not-selected", `client was not selected for round ${round}`);
    if (open.answered.has(sessionId)) return reject("duplicate", `an update for round ${round} was already received from this session`);
    if (baseModelVersion !== this.version) {
      return reject("stale-model", `update is based on model version ${baseModelVersion}, current is ${this.version}`);
    }
    return { accepted: true };
  }

  /** Takes ownership of update.delta (its arrays are reused for the client's full weights). */
  /** True when a submitted update's arrays stay referenced until the round ends (a non-streaming strategy). */
  get keepsUpdates(): boolean {
    return !this.options.strategy.streaming;
  }

  submitUpdate(sessionId: string, update: Update): UpdateVerdict {
    const admitted = this.admitUpload(sessionId, update.round, update.baseModelVersion);
    const open = this.open;
    const client = this.sessions.get(sessionId);
    const name = client?.siteName ?? sessionId;
    if (!admitted.accepted || !open) return this.countRejection(open, name, admitted);
    if (!(update.numExamples > 0 && Number.isFinite(update.numExamples))) {
      return this.refuse(open, sessionId, name, reject("examples", `example count ${update.numExamples} is not positive`));
    }
    const check = validateUpdate(update.delta, { shapes: this.options.shapes }, { maxNorm: this.options.settings.maxUpdateNorm || undefined });
    if (!check.ok) return this.refuse(open, sessionId, name, reject(check.reason, check.detail));

    // Streaming strategies fold the delta as it is; the others build the full weights in its arrays.
    open.aggregation.addDelta({ delta: update.delta, numExamples: update.numExamples });
    open.answered.add(sessionId);
    const s = open.trainStats;
    s.loss += update.metrics.loss * update.numExamples;
    s.accuracy += update.metrics.accuracy * update.numExamples;
    s.examples += update.numExamples;
    this.maybeCloseRound();
    return { accepted: true };
  }

  /** A client's evaluation of the global model the open round started from; others are ignored. */
  recordEvaluation(sessionId: string, e: SiteEvaluation): void {
    const client = this.sessions.get(sessionId);
    if (!client) return;
    const usable = e.examples > 0 && Number.isFinite(e.loss) && Number.isFinite(e.accuracy);
    const fe = this.finalEval;
    if (this.phase === "evaluating" && fe && fe.requested.has(sessionId) && e.modelVersion === fe.version) {
      // Any answer (even "no held-out data") counts as reported; only usable ones enter the summary.
      if (usable) fe.reports.set(sessionId, e);
      else fe.requested.delete(sessionId);
      this.maybeFinishEvaluation();
      return;
    }
    if (!usable) return;
    const open = this.open;
    if (open && e.modelVersion === open.startVersion) open.evaluations.set(client.siteName, e);
  }

  /** An upload the transport could not decode; counted and logged like any other rejection. */
  rejectUpload(sessionId: string, reason: string, detail: string): UpdateVerdict {
    return this.countRejection(this.open, this.sessions.get(sessionId)?.siteName ?? sessionId, reject(reason, detail));
  }

  /** Bytes moved for the open round, counted by the transport (payload plus framing it can see). */
  recordTransfer(direction: "up" | "down", bytes: number): void {
    if (!this.open) return;
    if (direction === "up") this.open.bytesUp += bytes;
    else this.open.bytesDown += bytes;
  }

  /** Stops timers; clients are told the federation finished. */
  stop(reason = "coordinator stopped"): void {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.open) clearTimeout(this.open.timer);
    if (this.finalEval) clearTimeout(this.finalEval.timer);
    this.open = null;
    this.finalEval = null;
    if (this.phase !== "done") {
      this.phase = "done";
      this.log(`stopping: ${reason}`);
      // A round still under central evaluation is recorded first.
      void this.recording.then(() => this.emit("done", this.history));
    }
    this.notify();
  }

  private finishedTask(): Task | null {
    return this.phase === "done" ? { kind: "finished", reason: "federation finished", finalModelVersion: this.version } : null;
  }

  private maybeStartRound(): void {
    const s = this.options.settings;
    if (this.phase !== "waiting" || this.sessions.size < s.minClients) return;
    const ids = this.sessions.ids().sort((a, b) => this.sessions.get(a)!.siteName.localeCompare(this.sessions.get(b)!.siteName) || a.localeCompare(b));
    const wanted = Math.min(ids.length, Math.max(s.minFitClients, Math.floor(ids.length * s.fraction)));
    this.rng.shuffle(ids);
    const number = this.lastRound + 1;
    const deadline = Date.now() + s.roundTimeoutMs;
    this.open = {
      number,
      startVersion: this.version,
      evaluations: new Map(),
      startedAt: Date.now(),
      selected: new Set(ids.slice(0, wanted)),
      answered: new Set(),
      aggregation: this.options.strategy.beginRound(this.weights),
      rejected: {},
      trainStats: { loss: 0, accuracy: 0, examples: 0 },
      bytesUp: 0,
      bytesDown: 0,
      deadline,
      timer: setTimeout(() => this.closeRound("deadline"), s.roundTimeoutMs),
    };
    this.phase = "training";
    this.log(`round ${number}/${s.rounds}: ${wanted} of ${ids.length} clients selected`);
    this.notify();
  }

  private maybeCloseRound(): void {
    const open = this.open;
    if (!open || this.phase !== "training") return;
    for (const id of open.selected) if (!open.answered.has(id)) return;
    this.closeRound("all updates received");
  }

  private closeRound(why: string): void {
    const open = this.open;
    if (!open || this.phase !== "training") return;
    clearTimeout(open.timer);
    this.phase = "aggregating";
    // Two turns of the event loop later: the answer to the upload that completed the round goes out first,
    // so that client does not wait for the aggregation (the model's mean, its checkpoint, its evaluation).
    // One turn is not enough for a gRPC answer: its message is written in the first turn, and its status
    // trailers (what the client waits for) only once that write completes, in the next turn's poll phase.
    // Measured with one turn: a 100 MB model's last upload was answered after the round's 33 ms mean.
    setImmediate(() =>
      setImmediate(() =>
        void this.finishRound(open, why).catch((e) => {
          this.log(`round ${open.number} failed: ${(e as Error).message}`);
          this.stop(`round ${open.number} failed`);
        }),
      ),
    );
  }

  private async finishRound(open: OpenRound, why: string): Promise<void> {
    // The previous round may still be under central evaluation (its successor, this round, started
    // meanwhile): its record, and what its listeners read — the global weights, for a checkpoint — come
    // before this aggregation changes them.
    await this.recording;
    if (this.phase === "done") return;
    const clients = open.aggregation.count;
    if (clients > 0) {
      // The machine owns its weights: FedAvg writes the new ones over the old (no model-sized allocation).
      this.weights = open.aggregation.finishInPlace();
      this.version++;
    } else {
      this.log(`round ${open.number}: no update arrived (${why}); the global model is unchanged`);
    }
    const aggregatedAt = Date.now();
    const evaluation = this.options.evaluate?.(this.weights) ?? Promise.resolve(null);
    this.lastRound = open.number;
    this.open = null;
    const last = open.number >= this.options.settings.rounds;
    if (!last) {
      // The next round starts now: its clients download and train while the coordinator evaluates this
      // model on the central test set, instead of waiting for it (seconds per round for a large test set).
      this.phase = "waiting";
      this.maybeStartRound();
      this.notify();
    }
    // Never rejects: a failure (the evaluation, or a listener of the round) stops the federation here, so
    // the next aggregation and "done" (which wait for it) still go ahead.
    this.recording = evaluation
      .catch((err: unknown) => {
        throw new Error(`central evaluation: ${(err as Error).message}`);
      })
      .then(async (e) => {
        this.record(open, clients, aggregatedAt, e);
        if (!last) return;
        await this.options.durable?.();
        if (this.phase !== "done") this.startFinalEvaluation();
        this.notify();
      })
      .catch((err: unknown) => {
        this.log(`round ${open.number} failed: ${(err as Error).message}`);
        this.stop(`round ${open.number} failed`);
      });
    await this.recording;
  }

  private record(open: OpenRound, clients: number, aggregatedAt: number, evaluation: CentralEvaluation | null): void {
    const s = open.trainStats;
    const record: RoundRecord = {
      round: open.number,
      modelVersion: open.startVersion + (clients > 0 ? 1 : 0),
      accuracy: evaluation?.accuracy ?? null,
      loss: evaluation?.loss ?? null,
      clients,
      selected: open.selected.size,
      rejected: open.rejected,
      federatedEvaluation: summariseEvaluations(open.startVersion, open.evaluations),
      trainLoss: s.examples > 0 ? s.loss / s.examples : null,
      trainAccuracy: s.examples > 0 ? s.accuracy / s.examples : null,
      bytesUp: open.bytesUp,
      bytesDown: open.bytesDown,
      durationMs: aggregatedAt - open.startedAt,
    };
    const privacy = this.options.strategy.privacySpent?.(open.number);
    if (privacy) record.privacy = privacy;
    this.history.push(record);
    // Also when the machine was stopped during the evaluation: the round was aggregated, so it is recorded
    // (and checkpointed) before "done".
    this.emit("round", record);
    this.notify();
  }

  private startFinalEvaluation(): void {
    if (this.sessions.size === 0) return this.finish();
    this.phase = "evaluating";
    this.finalEval = {
      version: this.version,
      requested: new Set(this.sessions.ids()),
      reports: new Map(),
      timer: setTimeout(() => this.finish(), Math.min(FINAL_EVALUATION_TIMEOUT_MS, this.options.settings.roundTimeoutMs)),
    };
    this.log(`final model (version ${this.version}): asking ${this.sessions.size} clients to evaluate it`);
  }

  private maybeFinishEvaluation(): void {
    const fe = this.finalEval;
    if (!fe) return;
    for (const id of fe.requested) if (!fe.reports.has(id)) return;
    this.finish();
  }

  private finish(): void {
    const fe = this.finalEval;
    if (fe) {
      clearTimeout(fe.timer);
      const bySite = new Map([...fe.reports].map(([id, e]) => [this.sessions.get(id)?.siteName ?? id, e]));
      this.finalFederated = summariseEvaluations(fe.version, bySite);
      this.finalEval = null;
    }
    if (this.phase === "done") return;
    this.phase = "done";
    if (this.sweeper) clearInterval(this.sweeper);
    this.emit("done", this.history);
    this.notify();
  }

  /** An invalid update: counted, and the session's part in the round is over (see OpenRound.answered). */
  private refuse(open: OpenRound, sessionId: string, name: string, verdict: UpdateVerdict): UpdateVerdict {
    this.countRejection(open, name, verdict);
    open.answered.add(sessionId);
    this.maybeCloseRound();
    return verdict;
  }

  private countRejection(open: OpenRound | null, name: string, verdict: UpdateVerdict): UpdateVerdict {
    if (!verdict.accepted) {
      if (open) open.rejected[verdict.reason] = (open.rejected[verdict.reason] ?? 0) + 1;
      this.log(`update from ${name} rejected (${verdict.reason}): ${verdict.detail}`);
    }
    return verdict;
  }

  /** Wakes the long-polls (see `waiters`). */
  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}

function reject(reason: string, detail: string): UpdateVerdict {
  return { accepted: false, reason, detail };
}
