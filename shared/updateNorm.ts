/**
 * The L2 norm of an update (or any weights) over all its layers, as the coordinator checks and clips updates
 * and as a site clips its own before they leave it: Σ x² in float64 with four partial sums (the additions do
 * not wait on each other), by the native addon when it is built (vectorised C, the same four sums in the same
 * order) and by the JavaScript below otherwise, so the result does not depend on which one ran.
 */
import { nativeOr } from "./backends/native/nativeAddon.js";

type SumOfSquares = (x: Float32Array) => number;

/** Σ x² in float64; non-finite exactly when some value is (a float32 squares to at most ~1.2e77). */
export const jsSumOfSquares: SumOfSquares = (x) => {
  const n = x.length;
  const n4 = n - (n % 4);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let j = 0; j < n4; j += 4) {
    const a = x[j];
    const b = x[j + 1];
    const c = x[j + 2];
    const d = x[j + 3];
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (let j = n4; j < n; j++) s0 += x[j] * x[j];
  return s0 + s1 + s2 + s3;
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
