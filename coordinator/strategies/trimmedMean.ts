/**
 * FedTrimmedAvg (Yin et al., 2018), as Flower's: for every coordinate, drop the ⌊β·n⌋ lowest and
 * ⌊β·n⌋ highest client values and average the rest (unweighted).
 */
import type { FitResult, RoundAggregation } from "./strategy.js";
import { reduceSortedCoordinates } from "./coordinates.js";
import type { OptionSpecs } from "./options.js";
import { BaseStrategy, CollectingRound } from "./round.js";

export const FEDTRIMMEDAVG_OPTIONS = {
  beta: { default: 0.2, min: 0, max: 0.5, maxExclusive: true, description: "fraction cut at each end" },
} satisfies OptionSpecs;

export interface FedTrimmedAvgOptions {
  beta: number;
}

export class FedTrimmedAvg extends BaseStrategy {
  readonly name: string = "fedtrimmedavg";
  readonly streaming = false;
  private readonly beta: number;

  constructor(options: FedTrimmedAvgOptions) {
    super();
    this.beta = options.beta;
  }

  beginRound(current: Float32Array[]): RoundAggregation {
    return new CollectingRound(current, this.name, (results: readonly FitResult[]) => {
      const n = results.length;
      const cut = Math.floor(this.beta * n); // < n/2 because β < 0.5
      const end = n - cut;
      const kept = end - cut;
      return reduceSortedCoordinates(
        results.map((r) => r.weights),
        (sorted) => {
          let s = 0;
          for (let i = cut; i < end; i++) s += sorted[i];
          return s / kept;
        },
      );
    });
  }
}
