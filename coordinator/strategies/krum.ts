/**
 * Krum and MultiKrum (Blanchard et al., 2017), as Flower's aggregate_krum. A client's score is the sum of
 * the squared L2 distances (over all layers) to its max(1, n − f − 2) nearest other clients; Krum returns
 * the weights of the lowest-score client (the first one on ties), MultiKrum the example-weighted FedAvg of
 * the m lowest-score clients (ties go to the earlier result).
 */
import type { FitResult, RoundAggregation } from "./strategy.js";
import { copyLayers, squaredDistance, WeightedSum } from "./layers.js";
import type { OptionSpecs } from "./options.js";
import { BaseStrategy, CollectingRound } from "./round.js";

export const KRUM_OPTIONS = {
  numMalicious: { default: 0, min: 0, integer: true, description: "assumed number of malicious clients f" },
  numToKeep: { default: 0, min: 0, integer: true, description: "0 = Krum, m > 0 = MultiKrum over the m best" },
} satisfies OptionSpecs;

export interface KrumOptions {
  numMalicious: number;
  numToKeep: number;
}

/** Squared distances between every pair of models: a symmetric n×n matrix, row-major. */
export class DistanceMatrix {
  readonly size: number;
  private readonly d: Float64Array;

  constructor(models: readonly (readonly Float32Array[])[]) {
    const n = models.length;
    this.size = n;
    this.d = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = i + 1; k < n; k++) {
        const dist = squaredDistance(models[i], models[k]);
        this.d[i * n + k] = dist;
        this.d[k * n + i] = dist;
      }
    }
  }

  get(i: number, k: number): number {
    return this.d[i * this.size + k];
  }
}

/** Krum scores of the models `members` (indices into `dist`), computed among those members only. */
export function krumScores(dist: DistanceMatrix, members: readonly number[], numMalicious: number): Float64Array {
  const n = members.length;
  const closest = Math.min(Math.max(1, n - numMalicious - 2), n - 1);
  const others = new Float64Array(n - 1);
  const scores = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    let o = 0;
    for (let b = 0; b < n; b++) if (b !== a) others[o++] = dist.get(members[a], members[b]);
    others.sort();
    let s = 0;
    for (let k = 0; k < closest; k++) s += others[k];
    scores[a] = s;
  }
  return scores;
}

/** Position in `members` of the Krum choice: the lowest score, the first one on ties (numpy's argmin). */
export function krumSelect(dist: DistanceMatrix, members: readonly number[], numMalicious: number): number {
  const scores = krumScores(dist, members, numMalicious);
  let best = 0;
  for (let a = 1; a < scores.length; a++) if (scores[a] < scores[best]) best = a;
  return best;
}

export class Krum extends BaseStrategy {
  readonly name: string = "krum";
  readonly streaming = false;
  private readonly numMalicious: number;
  private readonly numToKeep: number;

  constructor(options: KrumOptions) {
    super();
    this.numMalicious = options.numMalicious;
    this.numToKeep = options.numToKeep;
  }

  beginRound(current: Float32Array[]): RoundAggregation {
    return new CollectingRound(current, this.name, (results) => this.combine(current, results));
  }

  private combine(current: readonly Float32Array[], results: readonly FitResult[]): Float32Array[] {
    const models = results.map((r) => r.weights);
    const dist = new DistanceMatrix(models);
    const all = models.map((_, i) => i);
    if (this.numToKeep === 0) return copyLayers(models[krumSelect(dist, all, this.numMalicious)]);

    const scores = krumScores(dist, all, this.numMalicious);
    const ranked = all.sort((a, b) => scores[a] - scores[b] || a - b);
    const keep = ranked.slice(0, Math.min(this.numToKeep, ranked.length));
    const sum = new WeightedSum(current);
    for (const i of keep) sum.add(models[i], results[i].numExamples);
    return sum.mean();
  }
}
