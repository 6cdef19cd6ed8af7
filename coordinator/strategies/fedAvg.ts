/** FedAvg: the example-weighted mean Σ nᵢ·wᵢ / Σ nᵢ, layer by layer; the base of the server-optimizer strategies. */
import type { DeltaResult, FitResult, RoundAggregation } from "./strategy.js";
import { AccumulatorPool, WeightedSum } from "./layers.js";
import { BaseStrategy, RoundBase } from "./round.js";

export class FedAvg extends BaseStrategy {
  readonly name: string = "fedavg";
  readonly streaming = true;
  private readonly pool = new AccumulatorPool();

  beginRound(current: Float32Array[]): RoundAggregation {
    return new MeanRound(current, this.name, this.pool, this.takesMean(), (mean) => this.step(current, mean));
  }

  /** True when step() returns the mean as it is (no server optimizer): the mean may then overwrite `current`. */
  protected takesMean(): boolean {
    return true;
  }

  /**
   * The server-side update from this round's example-weighted mean (float32, as Flower's FedAvg
   * returns it). FedAvg takes the mean as is; FedAvgM and FedOpt move `current` towards it. Called
   * once per successfully finished round, in round order.
   */
  protected step(_current: readonly Float32Array[], mean: Float32Array[]): Float32Array[] {
    return mean;
  }
}

/**
 * Streams the results into one Float64 accumulator per layer (taken from, and given back to, the
 * strategy's pool); never keeps a result. Deltas fold in as they are.
 */
class MeanRound extends RoundBase {
  private readonly sum: WeightedSum;

  constructor(
    current: readonly Float32Array[],
    strategyName: string,
    private readonly pool: AccumulatorPool,
    private readonly meanIsResult: boolean,
    private readonly then: (mean: Float32Array[]) => Float32Array[],
  ) {
    super(current, strategyName);
    this.sum = new WeightedSum(current, pool.take(current));
  }

  protected accept(result: FitResult): void {
    this.sum.add(result.weights, result.numExamples);
  }

  protected override acceptDelta(result: DeltaResult): void {
    this.sum.addDelta(result.delta, result.numExamples);
  }

  protected complete(inPlace: boolean): Float32Array[] {
    try {
      // current + Σ/N elementwise: writing it over current reads each value before replacing it.
      return this.then(this.sum.mean(inPlace && this.meanIsResult ? (this.current as Float32Array[]) : undefined));
    } finally {
      this.pool.give(this.sum.release());
    }
  }
}
