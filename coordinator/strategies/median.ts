/** FedMedian (Yin et al., 2018), as Flower's: the coordinate-wise median of the clients' weights. */
import type { FitResult, RoundAggregation } from "./strategy.js";
import { reduceSortedCoordinates, sortedMedian } from "./coordinates.js";
import { BaseStrategy, CollectingRound } from "./round.js";

export class FedMedian extends BaseStrategy {
  readonly name: string = "fedmedian";
  readonly streaming = false;

  beginRound(current: Float32Array[]): RoundAggregation {
    return new CollectingRound(current, this.name, (results: readonly FitResult[]) =>
      reduceSortedCoordinates(
        results.map((r) => r.weights),
        sortedMedian,
      ),
    );
  }
}
