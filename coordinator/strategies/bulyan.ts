/**
 * Bulyan (El Mhamdi et al., 2018), as Flower's aggregate_bulyan with Krum as the selection rule: with
 * n ≥ 4f + 3 results, pick by Krum and remove, θ = n − 2f times; then, for every coordinate, average the
 * β = θ − 2f selected values closest to the coordinate-wise median of the selected set.
 */
import { UserError } from "../../shared/errors.js";
import type { FitResult, RoundAggregation } from "./strategy.js";
import { reduceSortedCoordinates, sortedMedian } from "./coordinates.js";
import { DistanceMatrix, krumSelect } from "./krum.js";
import type { OptionSpecs } from "./options.js";
import { BaseStrategy, CollectingRound } from "./round.js";

export const BULYAN_OPTIONS = {
  numMalicious: { default: 0, min: 0, integer: true, description: "assumed number of malicious clients f" },
} satisfies OptionSpecs;

export interface BulyanOptions {
  numMalicious: number;
}

export class Bulyan extends BaseStrategy {
  readonly name: string = "bulyan";
  readonly streaming = false;
  private readonly numMalicious: number;

  constructor(options: BulyanOptions) {
    super();
    this.numMalicious = options.numMalicious;
  }

  beginRound(current: Float32Array[]): RoundAggregation {
    return new CollectingRound(current, this.name, (results) => this.combine(results));
  }

  private combine(results: readonly FitResult[]): Float32Array[] {
    const f = this.numMalicious;
    const n = results.length;
    if (n < 4 * f + 3) {
      throw new UserError(
        `bulyan with numMalicious=${f} needs at least 4·${f}+3 = ${4 * f + 3} results per round, got ${n}; ` +
          `lower numMalicious or sample more clients per round`,
      );
    }
    const models = results.map((r) => r.weights);
    const dist = new DistanceMatrix(models);
    const theta = n - 2 * f;
    const beta = theta - 2 * f;

    const remaining = models.map((_, i) => i);
    const selected: (readonly Float32Array[])[] = [];
    for (let t = 0; t < theta; t++) {
      const pos = krumSelect(dist, remaining, f);
      selected.push(models[remaining[pos]]);
      remaining.splice(pos, 1);
    }

    return reduceSortedCoordinates(selected, (sorted) => meanClosestToMedian(sorted, beta));
  }
}

/**
 * Mean of the `count` values closest to the median of `sorted` (ascending). Those values are a contiguous run
 * of `sorted`, grown outwards from the middle; on a tie the lower value is taken (numpy's argpartition, which
 * Flower uses, leaves ties unspecified). The median is rounded to float32 first, as Flower's is.
 */
function meanClosestToMedian(sorted: Float64Array, count: number): number {
  const n = sorted.length;
  const median = Math.fround(sortedMedian(sorted));
  const h = n >> 1;
  let sum = 0;
  let taken = 0;
  let lo = h - 1;
  let hi = h;
  if (n % 2 === 1) {
    sum = sorted[h];
    taken = 1;
    hi = h + 1;
  }
  while (taken < count) {
    if (hi >= n || (lo >= 0 && median - sorted[lo] <= sorted[hi] - median)) sum += sorted[lo--];
    else sum += sorted[hi++];
    taken++;
  }
  return sum / count;
}
