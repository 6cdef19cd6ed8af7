/**
 * Coordinate-wise reduction over several models: for every coordinate, the clients' values are gathered
 * into one reused scratch buffer, sorted, and reduced to one number (median, trimmed mean, Bulyan's mean
 * around the median). No allocation per coordinate.
 */

/** Above this many values the engine's native typed-array sort beats insertion sort. */
const INSERTION_SORT_MAX = 24;

/** Sorts the whole buffer ascending in place (values are expected to be finite). */
export function sortValues(buf: Float64Array): void {
  const n = buf.length;
  if (n > INSERTION_SORT_MAX) {
    buf.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = buf[i];
    let k = i - 1;
    while (k >= 0 && buf[k] > x) {
      buf[k + 1] = buf[k];
      k--;
    }
    buf[k + 1] = x;
  }
}

/** Median of ascending values: the middle one, or the mean of the two middle ones for an even count. */
export function sortedMedian(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

/**
 * out[l][j] = reduce(ascending values of models[0][l][j], models[1][l][j], …) for every coordinate,
 * rounded to float32. The models must have matching layers; `reduce` must not keep the buffer.
 */
export function reduceSortedCoordinates(
  models: readonly (readonly Float32Array[])[],
  reduce: (sorted: Float64Array) => number,
): Float32Array[] {
  const n = models.length;
  const scratch = new Float64Array(n);
  return models[0].map((_, l) => {
    const columns = models.map((model) => model[l]);
    const out = new Float32Array(columns[0].length);
    for (let j = 0; j < out.length; j++) {
      for (let i = 0; i < n; i++) scratch[i] = columns[i][j];
      sortValues(scratch);
      out[j] = reduce(scratch);
    }
    return out;
  });
}
