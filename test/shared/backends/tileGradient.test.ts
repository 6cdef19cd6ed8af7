import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-layers"; // registers the other ops' gradients
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../shared/backends/selectBackend.js";

beforeAll(async () => {
  await initBackend("wasm"); // registers the Tile gradient
});

/** d/dx Σ tile(x, reps)·w, computed by hand: each x element collects the w entries of all its copies. */
function expectedGrad(xShape: number[], reps: number[], w: tf.Tensor): number[] {
  const wv = w.arraySync() as unknown;
  const size = xShape.reduce((a, b) => a * b, 1);
  const out = new Array<number>(size).fill(0);
  const yShape = xShape.map((s, i) => s * reps[i]);
  const total = yShape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    const idx: number[] = [];
    for (let d = yShape.length - 1; d >= 0; d--) {
      idx[d] = rem % yShape[d];
      rem = Math.floor(rem / yShape[d]);
    }
    let v: unknown = wv;
    for (const i of idx) v = (v as unknown[])[i];
    let xi = 0;
    for (let d = 0; d < xShape.length; d++) xi = xi * xShape[d] + (idx[d] % xShape[d]);
    out[xi] += v as number;
  }
  return out;
}

describe("Tile gradient", () => {
  for (const [xShape, reps] of [
    [[5], [3]],
    [[1, 1, 4], [7, 1, 1]],
    [[2, 3], [2, 4]],
    [[2, 1, 3], [1, 5, 2]],
  ] as [number[], number[]][]) {
    it(`x ${JSON.stringify(xShape)} reps ${JSON.stringify(reps)}`, () => {
      const x = tf.randomNormal(xShape, 0, 1, "float32", 1);
      const w = tf.randomNormal(xShape.map((s, i) => s * reps[i]), 0, 1, "float32", 2);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, reps), w)))(x);
      expect(g.shape).toEqual(xShape);
      const got = Array.from(g.dataSync());
      expectedGrad(xShape, reps, w).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    });
  }
});
