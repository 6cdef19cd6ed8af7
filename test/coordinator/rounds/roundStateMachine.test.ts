import { afterEach, describe, expect, it, vi } from "vitest";
import { RoundStateMachine } from "../../../coordinator/rounds/roundStateMachine.js";
import type { RoundRecord, RoundSettings, Update } from "../../../coordinator/rounds/types.js";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { aggregationTurns } from "../../helpers/aggregationTurns.js";

const settings = (over: Partial<RoundSettings> = {}): RoundSettings => ({
  rounds: 2,
  minClients: 2,
  fraction: 1,
  minFitClients: 1,
  roundTimeoutMs: 60_000,
  seed: 1,
  maxUpdateNorm: 0,
  training: { localEpochs: 1, batchSize: 8, learningRate: 0.01, learningRateSchedule: { kind: "constant", min: 0 }, optimizer: "sgd", proximalMu: 0, federate: "all", augment: { flip: false, cropPadding: 0 }, updateEncoding: { encoding: "float32", topkFraction: 0 } },
  ...over,
});

const shapes = [[2], [3]];
const zeros = () => [new Float32Array(2), new Float32Array(3)];
const update = (round: number, version: number, n: number, a: number[], b: number[]): Update => ({
  round,
  baseModelVersion: version,
  numExamples: n,
  metrics: { loss: 1, accuracy: 0.5, steps: 1, trainMillis: 1, skippedFiles: 0 },
  delta: [Float32Array.from(a), Float32Array.from(b)],
});

let machine: RoundStateMachine | null = null;
afterEach(() => machine?.stop());

type Evaluate = (weights: Float32Array[]) => Promise<{ loss: number; accuracy: number; examples: number }>;

function make(over: Partial<RoundSettings> = {}, evaluate?: Evaluate, log?: (line: string) => void) {
  machine = new RoundStateMachine({ settings: settings(over), shapes, initialWeights: zeros(), strategy: createStrategy("fedavg"), evaluate, log });
  return machine;
}

/** A one-client federation whose first round fails in `how`; the log lines and whether "done" came. */
async function failingFirstRound(evaluate: Evaluate, onRound?: () => void) {
  const lines: string[] = [];
  const m = make({ rounds: 3, minClients: 1 }, evaluate, (l) => lines.push(l));
  let done = false;
  if (onRound) m.on("round", onRound);
  m.on("done", () => (done = true));
  const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
  m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [0, 0, 0]));
  await aggregationTurns();
  return { lines, done, rounds: m.rounds };
}

describe("round state machine", () => {
  it("waits for min clients, runs rounds with FedAvg of the deltas, then finishes", async () => {
    const m = make({}, async () => ({ loss: 0.5, accuracy: 0.9, examples: 10 }));
    const rounds: RoundRecord[] = [];
    m.on("round", (r) => rounds.push(r));
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "wait" });
    const b = m.join({ siteName: "b", numExamples: 30, backend: "cpu", encodings: ["float32"] });
    const ta = m.taskFor(a.sessionId);
    expect(ta).toMatchObject({ kind: "train", round: 1, modelVersion: 0 });

    expect(m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 2], [0, 0, 4]))).toEqual({ accepted: true });
    // A duplicate from the same session is refused and counted.
    expect(m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 2], [0, 0, 4]))).toMatchObject({ accepted: false, reason: "duplicate" });
    expect(m.submitUpdate(b.sessionId, update(1, 0, 30, [5, 6], [4, 0, 0]))).toEqual({ accepted: true });
    await aggregationTurns();
    expect(rounds).toHaveLength(1);
    expect(rounds[0]).toMatchObject({ round: 1, modelVersion: 1, clients: 2, selected: 2, accuracy: 0.9, rejected: { duplicate: 1 } });
    // (10·1 + 30·5)/40 = 4, (10·2 + 30·6)/40 = 5, ...
    expect(Array.from(m.globalWeights[0])).toEqual([4, 5]);
    expect(Array.from(m.globalWeights[1])).toEqual([3, 0, 1]);

    // Round 2: an update computed on the old model version is stale.
    expect(m.submitUpdate(a.sessionId, update(2, 0, 10, [0, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "stale-model" });
    expect(m.submitUpdate(a.sessionId, update(1, 1, 10, [0, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "stale-round" });
    m.submitUpdate(a.sessionId, update(2, 1, 10, [1, 1], [1, 1, 1]));
    m.submitUpdate(b.sessionId, update(2, 1, 30, [1, 1], [1, 1, 1]));
    await aggregationTurns();
    // After the last round the clients evaluate the final model on their held-out data.
    expect(m.isDone).toBe(false);
    expect(m.taskFor(a.sessionId)).toEqual({ kind: "evaluate", round: 2, modelVersion: 2 });
    m.recordEvaluation(a.sessionId, { modelVersion: 2, examples: 10, loss: 1, accuracy: 0.5 });
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "wait" });
    m.recordEvaluation(b.sessionId, { modelVersion: 2, examples: 30, loss: 2, accuracy: 0.9 });
    expect(m.isDone).toBe(true);
    expect(m.finalFederatedEvaluation).toMatchObject({ modelVersion: 2, examples: 40, loss: 1.75, minAccuracy: 0.5, maxAccuracy: 0.9 });
    expect(m.finalFederatedEvaluation!.accuracy).toBeCloseTo(0.8, 10);
    expect(m.taskFor(a.sessionId)).toEqual({ kind: "finished", reason: "federation finished", finalModelVersion: 2 });
    expect(Array.from(m.globalWeights[0])).toEqual([5, 6]);
  });

  it("starts the next round while the central evaluation runs; records each round before the next aggregation", async () => {
    // Evaluations that finish when the test says so, each seeing the weights it was given (copied at once,
    // as the coordinator copies them into its model).
    const pending: { weights: number[]; resolve: (accuracy: number) => void }[] = [];
    const m = make({ rounds: 3, minClients: 1 }, (w) => new Promise((resolve) => {
      pending.push({ weights: Array.from(w[0]), resolve: (accuracy) => resolve({ loss: 1, accuracy, examples: 10 }) });
    }));
    const rounds: { round: number; accuracy: number | null; weights: number[] }[] = [];
    let done = false;
    m.on("round", (r) => rounds.push({ round: r.round, accuracy: r.accuracy, weights: Array.from(m.globalWeights[0]) }));
    m.on("done", () => (done = true));
    const tick = aggregationTurns;
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [0, 0, 0]));
    await tick();
    // Round 1 is aggregated and under evaluation: round 2 is already open for training.
    expect(pending.map((p) => p.weights)).toEqual([[1, 1]]);
    expect(rounds).toEqual([]);
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "train", round: 2, modelVersion: 1 });
    // Round 2's updates arrive before round 1's evaluation ends: its aggregation waits for round 1's record,
    // so a listener of round 1 still sees round 1's weights.
    expect(m.submitUpdate(a.sessionId, update(2, 1, 10, [2, 2], [0, 0, 0]))).toEqual({ accepted: true });
    await tick();
    expect(Array.from(m.globalWeights[0])).toEqual([1, 1]);
    pending[0].resolve(0.5);
    await tick();
    expect(rounds).toEqual([{ round: 1, accuracy: 0.5, weights: [1, 1] }]);
    expect(Array.from(m.globalWeights[0])).toEqual([3, 3]);
    expect(pending.map((p) => p.weights)).toEqual([[1, 1], [3, 3]]);
    // Stopped while round 2 is under evaluation: round 2 is still recorded, before "done".
    m.stop("test");
    await tick();
    expect(done).toBe(false);
    pending[1].resolve(0.7);
    await tick();
    expect(rounds.map((r) => [r.round, r.accuracy])).toEqual([[1, 0.5], [2, 0.7]]);
    expect(done).toBe(true);
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "finished" });
  });

  it("stops, naming the round, when the central evaluation fails", async () => {
    const r = await failingFirstRound(async () => {
      throw new Error("out of memory");
    });
    expect(r.lines).toContain("round 1 failed: central evaluation: out of memory");
    expect(r.done).toBe(true);
    expect(r.rounds).toEqual([]);
  });

  it("stops, naming the round, when a listener of the round fails; done still comes", async () => {
    const r = await failingFirstRound(async () => ({ loss: 1, accuracy: 0.5, examples: 10 }), () => {
      throw new Error("disk full");
    });
    expect(r.lines).toContain("round 1 failed: disk full");
    expect(r.done).toBe(true);
  });

  it("tells no client the federation finished before the last round is durable", async () => {
    let persisted!: () => void;
    let durableCalls = 0;
    machine = new RoundStateMachine({
      settings: settings({ rounds: 1, minClients: 1 }),
      shapes,
      initialWeights: zeros(),
      strategy: createStrategy("fedavg"),
      durable: () => {
        durableCalls++;
        return new Promise<void>((resolve) => (persisted = resolve));
      },
    });
    const m = machine;
    const rounds: RoundRecord[] = [];
    m.on("round", (r) => rounds.push(r));
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [0, 0, 0]));
    await aggregationTurns();
    // Recorded (the checkpoint write is under way), but the client is held: a crash now must find it still there.
    expect(rounds).toHaveLength(1);
    expect(durableCalls).toBe(1);
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "wait" });
    persisted();
    await aggregationTurns();
    expect(m.taskFor(a.sessionId)).toEqual({ kind: "evaluate", round: 1, modelVersion: 1 });
    m.recordEvaluation(a.sessionId, { modelVersion: 1, examples: 10, loss: 1, accuracy: 0.5 });
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "finished" });
  });

  it("stops, naming the round, when the last round cannot be made durable", async () => {
    const lines: string[] = [];
    machine = new RoundStateMachine({
      settings: settings({ rounds: 1, minClients: 1 }),
      shapes,
      initialWeights: zeros(),
      strategy: createStrategy("fedavg"),
      durable: async () => {
        throw new Error("checkpoint: disk full");
      },
      log: (l) => lines.push(l),
    });
    const m = machine;
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [0, 0, 0]));
    await aggregationTurns();
    expect(lines).toContain("round 1 failed: checkpoint: disk full");
    expect(m.isDone).toBe(true);
  });

  it("gives each round's task the learning rate of the schedule", async () => {
    const training = { ...settings().training, learningRate: 0.1, learningRateSchedule: { kind: "cosine" as const, min: 0 } };
    const m = make({ rounds: 2, minClients: 1, training });
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "train", round: 1, training: { learningRate: 0.1 } });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [0, 0], [0, 0, 0]));
    await aggregationTurns();
    // Round 2 of 2: halfway along the cosine, 0.1 · ½(1 + cos(π/2)) = 0.05.
    const t2 = m.taskFor(a.sessionId);
    expect(t2).toMatchObject({ kind: "train", round: 2 });
    expect(t2.kind === "train" && t2.training.learningRate).toBeCloseTo(0.05, 12);
  });

  it("refuses malformed updates without touching the global model, and does not ask their senders again", async () => {
    const m = make({ rounds: 2, minClients: 4, maxUpdateNorm: 10 });
    const [a, b, c, d] = ["a", "b", "c", "d"].map((siteName) => m.join({ siteName, numExamples: 10, backend: "cpu", encodings: ["float32"] }));
    expect(m.submitUpdate(a.sessionId, update(1, 0, 10, [NaN, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "non-finite" });
    // Training the round again would give the same kind of update: the round is over for this session.
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "wait" });
    expect(m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "duplicate" });
    expect(m.submitUpdate(b.sessionId, update(1, 0, 10, [100, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "norm" });
    expect(m.submitUpdate(c.sessionId, { ...update(1, 0, 10, [0, 0], [0, 0, 0]), delta: [new Float32Array(2)] })).toMatchObject({
      accepted: false,
      reason: "layer-count",
    });
    expect(Array.from(m.globalWeights[0])).toEqual([0, 0]);
    expect(m.rounds).toEqual([]); // d has not answered yet
    expect(m.submitUpdate(d.sessionId, update(1, 0, 0, [0, 0], [0, 0, 0]))).toMatchObject({ accepted: false, reason: "examples" });
    await aggregationTurns();
    // Every selected site answered: the round closes at once, not at its deadline, with the model unchanged.
    expect(m.rounds).toMatchObject([{ round: 1, clients: 0, selected: 4, rejected: { "non-finite": 1, duplicate: 1, norm: 1, "layer-count": 1, examples: 1 } }]);
    expect(m.modelVersion).toBe(0);
    expect(m.taskFor(a.sessionId)).toMatchObject({ kind: "train", round: 2 });
  });

  it("closes a round at its deadline with the updates that arrived", async () => {
    const m = make({ rounds: 1, roundTimeoutMs: 100 });
    const rounds: RoundRecord[] = [];
    m.on("round", (r) => rounds.push(r));
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [2, 2], [2, 2, 2]));
    await new Promise((r) => setTimeout(r, 250));
    expect(rounds).toMatchObject([{ round: 1, clients: 1, selected: 2 }]);
    expect(Array.from(m.globalWeights[0])).toEqual([2, 2]);
  });

  it("samples a fraction of the clients, reproducibly from the seed", () => {
    const pick = () => {
      const m = new RoundStateMachine({ settings: settings({ minClients: 10, fraction: 0.3 }), shapes, initialWeights: zeros(), strategy: createStrategy("fedavg") });
      const ids = Array.from({ length: 10 }, (_, i) => m.join({ siteName: `s${i}`, numExamples: 1, backend: "cpu", encodings: ["float32"] }));
      const chosen = ids.filter((c) => m.taskFor(c.sessionId).kind === "train").map((c) => c.siteName);
      m.stop();
      return chosen;
    };
    const first = pick();
    expect(first).toHaveLength(3);
    expect(pick()).toEqual(first);
  });

  it("wakes a long-polling client as soon as its round starts, and lets a leaving client not hold up the round", async () => {
    const m = make({ rounds: 1 });
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    const polled = m.waitForTask(a.sessionId, 10_000);
    const b = m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"] });
    await expect(polled).resolves.toMatchObject({ kind: "train", round: 1 });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [1, 1, 1]));
    m.leave(b.sessionId, "shutting down");
    await aggregationTurns();
    m.leave(a.sessionId, "done");
    expect(m.isDone).toBe(true);
    expect(m.rounds[0]).toMatchObject({ clients: 1 });
  });

  it("gives a join repeated by the same client process its session back, not a second one", () => {
    const m = make();
    const info = { siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32" as const], instanceId: "process-1" };
    const first = m.join(info);
    expect(m.join(info).sessionId).toBe(first.sessionId);
    expect(m.connectedClients).toBe(1);
    // Still one short of min clients: no round started on a phantom second client.
    expect(m.taskFor(first.sessionId)).toMatchObject({ kind: "wait" });
  });

  it("closes a site's older session when a new process of the site joins: the round stops waiting for it", async () => {
    const lines: string[] = [];
    const m = make({ rounds: 1 }, undefined, (l) => lines.push(l));
    const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"], instanceId: "a-1" });
    const stale = m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"], instanceId: "b-1" });
    expect(m.taskFor(stale.sessionId)).toMatchObject({ kind: "train", round: 1 });
    m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [1, 1, 1]));
    // b's process died mid-round and its restart joins: the round closes with a's update, not at its deadline.
    const restarted = m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"], instanceId: "b-2" });
    await aggregationTurns();
    expect(m.rounds).toMatchObject([{ round: 1, clients: 1, selected: 1 }]);
    expect(m.connectedClients).toBe(2);
    expect(restarted.sessionId).not.toBe(stale.sessionId);
    expect(m.client(stale.sessionId)).toBeUndefined();
    expect(m.closedReason(stale.sessionId)).toBe("site b joined again from another client process");
    expect(m.closedReason(restarted.sessionId)).toBeUndefined();
    expect(lines).toContain("client b joined again from another process: its earlier session is closed");
    expect(m.submitUpdate(stale.sessionId, update(1, 0, 10, [1, 1], [1, 1, 1]))).toMatchObject({ accepted: false, reason: "unknown-session" });
  });

  it("closes a session not heard from for the session timeout: the round stops waiting for it, a live one stays", async () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const m = make({ rounds: 1, sessionTimeoutMs: 4_000 }, undefined, (l) => lines.push(l));
      const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
      const gone = m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"] });
      m.submitUpdate(a.sessionId, update(1, 0, 10, [1, 1], [1, 1, 1]));
      // a keeps calling (heartbeats); b's site lost power just after the round started.
      for (let t = 0; t < 3; t++) {
        vi.advanceTimersByTime(1_500);
        expect(m.heardFrom(a.sessionId)).toBe(true);
      }
      expect(m.client(gone.sessionId)).toBeUndefined();
      expect(lines).toContain("client b timed out: nothing heard from it for 5 s");
      // The round closes in a later turn of the event loop (an upload's answer would go out first).
      await vi.waitFor(() => expect(m.rounds).toMatchObject([{ round: 1, clients: 1, selected: 1 }]));
      expect(m.connectedClients).toBe(1);
      expect(m.heardFrom(gone.sessionId)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it("does not blame the clients for time the coordinator itself was stuck", () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const m = make({ rounds: 1, minClients: 3, sessionTimeoutMs: 4_000 }, undefined, (l) => lines.push(l));
      const a = m.join({ siteName: "a", numExamples: 10, backend: "cpu", encodings: ["float32"] });
      m.join({ siteName: "b", numExamples: 10, backend: "cpu", encodings: ["float32"] });
      vi.advanceTimersByTime(1_000);
      // The event loop blocked for 70 s (no timer ran, no call was read), then the sweeper runs first.
      vi.setSystemTime(Date.now() + 70_000);
      vi.advanceTimersByTime(500);
      expect(m.connectedClients).toBe(2);
      // Silence after the stall still counts: a keeps calling, b does not.
      for (let t = 0; t < 10; t++) {
        vi.advanceTimersByTime(500);
        m.heardFrom(a.sessionId);
      }
      expect(m.connectedClients).toBe(1);
      expect(lines.filter((l) => l.includes("timed out"))).toEqual([expect.stringMatching(/^client b timed out/)]);
    } finally {
      vi.useRealTimers();
    }
  });
});
