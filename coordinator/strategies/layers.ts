/** Small layer-wise helpers shared by the strategies. */
import { foldKernels } from "../foldKernels.js";
import type { StrategyState } from "./strategy.js";

/**
 * Throws unless `weights` has the same layer count and layer sizes as `reference`.
 * `what` names the array in the message, e.g. "result 3".
 */
export function checkLayers(reference: readonly Float32Array[], weights: readonly Float32Array[], what: string): void {
  if (weights.length !== reference.length) {
    throw new Error(`${what} has ${weights.length} layers, expected ${reference.length}`);
  }
  for (let l = 0; l < reference.length; l++) {
    if (weights[l].length !== reference[l].length) {
      throw new Error(`${what}: layer ${l} has ${weights[l].length} values, expected ${reference[l].length}`);
    }
  }
}

/** Throws unless `numExamples` is a finite number ≥ 0. */
export function checkExampleCount(numExamples: number, what: string): void {
  if (!Number.isFinite(numExamples) || numExamples < 0) {
    throw new Error(`${what} has numExamples ${numExamples}, expected a finite number ≥ 0`);
  }
}

/** The named per-layer arrays of a saved strategy state; throws when they are missing. */
export function arraysOf(state: StrategyState, name: string, strategy: string): Float32Array[] {
  const a = state.arrays[name];
  if (!Array.isArray(a) || !a.every((l) => l instanceof Float32Array)) throw new Error(`${strategy}: the saved state has no '${name}' arrays`);
  return a;
}

/** Fresh copies of the layers. */
export function copyLayers(layers: readonly Float32Array[]): Float32Array[] {
  return layers.map((layer) => layer.slice());
}

/** Squared L2 distance between two models over all their layers (in double precision). */
export function squaredDistance(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let total = 0;
  for (let l = 0; l < a.length; l++) {
    const x = a[l];
    const y = b[l];
    let s = 0;
    for (let j = 0; j < x.length; j++) {
      const d = x[j] - y[j];
      s += d * d;
    }
    total += s;
  }
  return total;
}

/**
 * Σ nᵢ·wᵢ / Σ nᵢ, layer by layer, folded in one model at a time, kept as Σ nᵢ·(wᵢ − base) in Float64Array
 * accumulators: the mean does not depend on the order of the models beyond the final float32 rounding,
 * and a client's delta (wᵢ − base, what it uploads) folds in directly, without building wᵢ first. The
 * mean is base + Σ nᵢ·(wᵢ − base) / Σ nᵢ. The per-value loops are foldKernels' (native when built).
 */
export class WeightedSum {
  private readonly sums: Float64Array[];
  private totalWeight = 0;
  private added = 0;
  private readonly kernels = foldKernels();

  /** `accumulators`: reused float64 arrays of the base's layer sizes (their contents are overwritten). */
  constructor(
    private readonly base: readonly Float32Array[],
    accumulators?: Float64Array[],
  ) {
    this.sums = accumulators ?? base.map((layer) => new Float64Array(layer.length));
  }

  /** Adds weight·model. The layer sizes must already have been checked. */
  add(model: readonly Float32Array[], weight: number): void {
    const first = this.added === 0;
    for (let l = 0; l < this.sums.length; l++) this.kernels.foldWeights(this.sums[l], model[l], this.base[l], weight, first);
    this.count(weight);
  }

  /** Adds weight·(base + delta). The layer sizes must already have been checked. */
  addDelta(delta: readonly Float32Array[], weight: number): void {
    const first = this.added === 0;
    for (let l = 0; l < this.sums.length; l++) this.kernels.foldDelta(this.sums[l], delta[l], weight, first);
    this.count(weight);
  }

  private count(weight: number): void {
    this.totalWeight += weight;
    this.added++;
  }

  /**
   * The weighted mean, rounded to float32, in fresh arrays or written into `into` (which may be the base
   * itself). Throws when nothing (or only zero weight) was added.
   */
  mean(into?: Float32Array[]): Float32Array[] {
    if (this.added === 0) throw new Error("cannot average zero models");
    const total = this.totalWeight;
    if (!(total > 0)) throw new Error(`cannot take an example-weighted average: the numExamples sum to ${total}`);
    return this.sums.map((acc, l) => {
      const out = into ? into[l] : new Float32Array(acc.length);
      this.kernels.finishMean(acc, this.base[l], total, out);
      return out;
    });
  }

  /** The accumulators, for the next round to reuse (this sum must not be used afterwards). */
  release(): Float64Array[] {
    return this.sums;
  }
}

/**
 * Float64 accumulators kept from one round to the next: a round's sums cost no fresh allocation (no
 * page faults on first touch, no model-sized garbage waiting for the collector).
 */
export class AccumulatorPool {
  private spare: Float64Array[] | null = null;

  take(shapeOf: readonly Float32Array[]): Float64Array[] {
    const s = this.spare;
    this.spare = null;
    if (s && s.length === shapeOf.length && s.every((a, l) => a.length === shapeOf[l].length)) return s;
    return shapeOf.map((layer) => new Float64Array(layer.length));
  }

  give(accumulators: Float64Array[]): void {
    this.spare = accumulators;
  }
}
