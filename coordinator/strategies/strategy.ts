import type { PrivacySpent } from "../../shared/privacy/gaussianAccountant.js";

/**
 * The contract between the coordinator and a server-side aggregation strategy. Strategies are pure
 * math over Float32Array layers: no tensors, no transport.
 */

/** One client's training result: its full weights (global + client delta), one array per layer. */
export interface FitResult {
  weights: Float32Array[];
  /** How many examples the client trained on; FedAvg-style strategies weight by it. */
  numExamples: number;
}

/** One client's training result as it arrives: its difference from the round's `current` weights. */
export interface DeltaResult {
  delta: Float32Array[];
  numExamples: number;
}

/** A strategy's server-side optimizer state, carried across a coordinator restart by its checkpoint. */
export interface StrategyState {
  /** Scalars, e.g. the number of server rounds done (bias correction depends on it). */
  scalars: Record<string, number>;
  /** Per-layer arrays by name, e.g. momentum or moment estimates. */
  arrays: Record<string, Float32Array[]>;
}

export interface Strategy {
  readonly name: string;
  /** true when results can be folded in one at a time as they arrive: memory O(model), not O(clients × model). */
  readonly streaming: boolean;
  /** FedProx only: μ of the proximal term (μ/2)·‖w − w_global‖² the clients add to their local loss. */
  readonly proximalMu?: number;
  /** One server round. Calls are numbered server rounds 1, 2, 3… in order; stateful strategies keep state between calls. */
  aggregate(current: Float32Array[], results: FitResult[]): Promise<Float32Array[]>;
  /**
   * The same round, fed one result at a time (the coordinator uses this); aggregate() is built on it, so
   * both give identical numbers. A round counts (for stateful strategies) when its finish() succeeds.
   */
  beginRound(current: Float32Array[]): RoundAggregation;
  /** Stateful strategies: a copy of their state after the last finished round (null before the first). */
  exportState?(): StrategyState | null;
  /** Restores an exportState() result (read from a checkpoint); throws if it does not fit this strategy. */
  importState?(state: StrategyState): void;
  /** Differentially private strategies: the (ε, δ) spent once `rounds` rounds are done. */
  privacySpent?(rounds: number): PrivacySpent;
}

export interface RoundAggregation {
  /**
   * Folds in one result. Non-streaming strategies keep a reference to `result.weights` until finish(),
   * so the caller must not modify those arrays before then. Throws if the layers do not match `current`.
   */
  add(result: FitResult): void;
  /**
   * Folds in one result given as delta = weights − current (what clients upload). Streaming strategies
   * fold the delta directly; the others turn `result.delta` into the full weights in place and keep them.
   */
  addDelta(result: DeltaResult): void;
  /** Results added so far. */
  readonly count: number;
  /** The new global weights (fresh arrays). Throws on an empty round; a round can be finished once. */
  finish(): Float32Array[];
  /**
   * finish() that may write the new weights over `current` instead of allocating them (the caller owns
   * `current` and will not use its old values again). Returns the arrays holding the result: `current`'s
   * own when the strategy could work in place, fresh ones otherwise.
   */
  finishInPlace(): Float32Array[];
}
