/** The round lifecycle shared by all strategies: aggregate() on top of beginRound(), and result checking. */
import { addLayersInPlace } from "../../shared/model/weights.js";
import type { DeltaResult, FitResult, RoundAggregation, Strategy } from "./strategy.js";
import { checkExampleCount, checkLayers } from "./layers.js";

/** A strategy whose aggregate() feeds beginRound() one result at a time, so both give identical numbers. */
export abstract class BaseStrategy implements Strategy {
  abstract readonly name: string;
  abstract readonly streaming: boolean;

  async aggregate(current: Float32Array[], results: FitResult[]): Promise<Float32Array[]> {
    const round = this.beginRound(current);
    for (const result of results) round.add(result);
    return round.finish();
  }

  abstract beginRound(current: Float32Array[]): RoundAggregation;
}

/**
 * Checks each result against `current`, counts, refuses empty rounds and use after finish();
 * subclasses only fold (accept) and combine (complete).
 */
export abstract class RoundBase implements RoundAggregation {
  private added = 0;
  private finished = false;

  constructor(
    protected readonly current: readonly Float32Array[],
    private readonly strategyName: string,
  ) {}

  get count(): number {
    return this.added;
  }

  add(result: FitResult): void {
    this.check(result.weights, result.numExamples);
    this.accept(result);
    this.added++;
  }

  addDelta(result: DeltaResult): void {
    this.check(result.delta, result.numExamples);
    this.acceptDelta(result);
    this.added++;
  }

  private check(layers: readonly Float32Array[], numExamples: number): void {
    if (this.finished) throw new Error(`${this.strategyName}: add() after the round was finished`);
    const what = `${this.strategyName}: result ${this.added}`;
    checkLayers(this.current, layers, what);
    checkExampleCount(numExamples, what);
  }

  finish(): Float32Array[] {
    return this.end(false);
  }

  finishInPlace(): Float32Array[] {
    return this.end(true);
  }

  private end(inPlace: boolean): Float32Array[] {
    if (this.finished) throw new Error(`${this.strategyName}: the round was already finished`);
    if (this.added === 0) throw new Error(`${this.strategyName}: cannot aggregate a round with no results`);
    this.finished = true;
    return this.complete(inPlace);
  }

  protected abstract accept(result: FitResult): void;
  /** By default the full weights, built in place in the delta's arrays (no model-sized allocation). */
  protected acceptDelta(result: DeltaResult): void {
    this.accept({ weights: addLayersInPlace(result.delta, this.current), numExamples: result.numExamples });
  }
  /** `inPlace`: the result may be written over `current` (see RoundAggregation.finishInPlace). */
  protected abstract complete(inPlace: boolean): Float32Array[];
}

/** A non-streaming round: keeps the results until finish(), then hands them all to `combine`. */
export class CollectingRound extends RoundBase {
  private results: FitResult[] = [];

  constructor(
    current: readonly Float32Array[],
    strategyName: string,
    private readonly combine: (results: readonly FitResult[]) => Float32Array[],
  ) {
    super(current, strategyName);
  }

  protected accept(result: FitResult): void {
    this.results.push(result);
  }

  protected complete(): Float32Array[] {
    const results = this.results;
    this.results = []; // release the clients' weights as soon as the round is done
    return this.combine(results);
  }
}
