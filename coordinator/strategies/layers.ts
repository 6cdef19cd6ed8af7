/** Small layer-wise helpers shared by the strategies. */

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
 * Σ nᵢ·wᵢ / Σ nᵢ, layer by layer, folded in one model at a time. The sum is kept in Float64Array
 * accumulators, so the mean does not depend on the order of the models beyond the final float32 rounding.
 */
export class WeightedSum {
  private readonly sums: Float64Array[];
  private totalWeight = 0;
  private added = 0;

  constructor(shapeOf: readonly Float32Array[]) {
    this.sums = shapeOf.map((layer) => new Float64Array(layer.length));
  }

  /** Adds weight·model. The layer sizes must already have been checked. */
  add(model: readonly Float32Array[], weight: number): void {
    const first = this.added === 0;
    for (let l = 0; l < this.sums.length; l++) {
      const acc = this.sums[l];
      const w = model[l];
      const n = acc.length;
      if (first) {
        for (let j = 0; j < n; j++) acc[j] = weight * w[j];
      } else {
        for (let j = 0; j < n; j++) acc[j] += weight * w[j];
      }
    }
    this.totalWeight += weight;
    this.added++;
  }

  /** The weighted mean, rounded to float32. Throws when nothing (or only zero weight) was added. */
  mean(): Float32Array[] {
    if (this.added === 0) throw new Error("cannot average zero models");
    const total = this.totalWeight;
    if (!(total > 0)) throw new Error(`cannot take an example-weighted average: the numExamples sum to ${total}`);
    return this.sums.map((acc) => {
      const out = new Float32Array(acc.length);
      for (let j = 0; j < acc.length; j++) out[j] = acc[j] / total;
      return out;
    });
  }
}
