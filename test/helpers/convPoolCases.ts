/**
 * The fused conv block's cases, run against the composite ops on the cpu reference backend, for both of
 * its wasm implementations: the native kernels (test/shared/model/convPoolOp.test.ts) and the JavaScript
 * ones over XNNPACK used where the addon is not built (test/shared/backends/wasmConvPool.test.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "../../shared/backends/convPoolKernelNames.js";
import { convReluPool, convReluPoolComposite, type ConvPad } from "../../shared/model/convPoolOp.js";
import { Random } from "../../shared/random.js";

const rng = new Random(17);
const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);

export function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  expect(a.length, what).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst, what).toBeLessThan(tol);
}

/** Kernel names a function ran, by tf.profile. */
export async function kernelsRun(f: () => tf.Tensor | tf.Tensor[]): Promise<Set<string>> {
  const info = await tf.profile(() => f());
  return new Set(info.kernels.map((k) => k.name));
}

/** Data ids the wasm backend holds (tensors and kernels' intermediates alike). */
const dataIds = () => (tf.backend() as unknown as { dataIdMap: { numDataIds(): number } }).dataIdMap.numDataIds();

interface Case {
  name: string;
  x: number[]; // [N, H, W, C]
  filter: number[]; // [KH, KW, C, OC]
  pad: ConvPad;
  /** The second image constant too, so its windows' four conv outputs tie (away from the padding). Only
   * where the forward pass is the direct path, which sums every position in the same order: sgemm's order
   * may differ between rows, so such a tie can go either way by a rounding, as between any two backends. */
  ties?: boolean;
  /** Added to every bias: a negative one leaves few units passing the ReLU. */
  biasShift?: number;
}

// The native forward: direct path where KH*KW*C <= 32 and OC is a multiple of 8 up to 64, tile path (im2col +
// sgemm) otherwise; its backward: direct where that covers the block and no dx is wanted, else from the
// pooling winners alone (conv_pool.cc SparseBackward), here with dx and without.
const CASES: Case[] = [
  { name: "cnn's first block (direct)", x: [3, 28, 28, 1], filter: [3, 3, 1, 32], pad: "valid", ties: true },
  { name: "'same' padding, odd conv output 13x13 (direct)", x: [2, 13, 13, 1], filter: [3, 3, 1, 16], pad: "same", ties: true },
  { name: "RGB, 24 filters (direct)", x: [2, 10, 9, 3], filter: [3, 3, 3, 24], pad: "valid", ties: true },
  { name: "12 filters (tile)", x: [2, 12, 12, 1], filter: [3, 3, 1, 12], pad: "valid" },
  { name: "a second block, 'same' (tile)", x: [3, 14, 14, 8], filter: [3, 3, 8, 16], pad: "same" },
  { name: "odd conv output 11x11 (tile)", x: [2, 13, 13, 5], filter: [3, 3, 5, 7], pad: "valid" },
  { name: "a 5x3 kernel, 'same' (direct)", x: [2, 11, 12, 1], filter: [5, 3, 1, 16], pad: "same", ties: true },
  { name: "an even 2x2 kernel, 'same': the padding all at the bottom and right (direct)", x: [2, 9, 10, 2], filter: [2, 2, 2, 8], pad: "same", ties: true },
  { name: "an even 4x2 kernel, 'same' (tile)", x: [2, 9, 8, 3], filter: [4, 2, 3, 12], pad: "same" },
  // A pooled row of this one needs more than the 2 MiB tile budget: one per tile.
  { name: "a wide image, one pooled row per tile (tile)", x: [2, 4, 830, 8], filter: [3, 3, 8, 16], pad: "same" },
  { name: "a second block with few units on, 'same' (tile)", x: [3, 14, 14, 8], filter: [3, 3, 8, 16], pad: "same", biasShift: -4 },
  // fusion-s's second block: filter rows of 96 floats, whole filters of 288 (the sparse backward's wider sums).
  { name: "fusion-s's second block, 32 -> 64 channels, 'same' (tile)", x: [2, 14, 14, 32], filter: [3, 3, 32, 64], pad: "same" },
];

/** Value and gradients (x, filter, bias) of Σ w·block(x, filter, bias) on a backend. */
async function block(backend: string, c: Case, inputGradient: boolean, data: Float32Array[]) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const [x, filter, bias] = [tf.tensor4d(data[0], c.x as never), tf.tensor4d(data[1], c.filter as never), tf.tensor1d(data[2])];
    const f = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => convReluPool(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor1D, c.pad, inputGradient);
    const y = f(x, filter, bias);
    const w = tf.reshape(tf.sin(tf.range(0, y.size)), y.shape);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, b, d), w)))([x, filter, bias]);
    return { shape: y.shape, y: y.dataSync().slice(), grads: grads.map((g) => g.dataSync().slice()) };
    });
}

function caseData(c: Case): Float32Array[] {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const x = values(size(c.x), 1);
  // Ties: the first position must win, as in tfjs's max pool. The first image is 0, so each window's four
  // conv outputs are exactly its bias whatever the order of the sums (ties where the bias is > 0).
  const image = size(c.x.slice(1));
  x.fill(0, 0, image);
  if (c.ties) x.fill(0.5, image, 2 * image);
  return [x, values(size(c.filter), 0.4), values(c.filter[3], 0.2).map((b) => b + (c.biasShift ?? 0))];
}

/** The block's tests on wasm, whichever implementation is registered there. */
export function describeConvPoolBlock(label: string): void {
  describe(`fused conv block (${label})`, () => {
    it("is registered on wasm only", () => {
      for (const k of [CONV_POOL_KERNEL, CONV_POOL_GRAD_KERNEL]) {
        expect(tf.getKernel(k, "wasm"), k).toBeDefined();
        expect(tf.getKernel(k, "cpu"), k).toBeUndefined();
      }
    });

    it.each(CASES)("$name: value and gradients match conv2d + bias + relu + maxPool on cpu", async (c) => {
      const data = caseData(c);
      const want = await block("cpu", c, true, data);
      const got = await block("wasm", c, true, data);
      expect(got.shape).toEqual(want.shape);
      expectClose(got.y, want.y, 1e-5, "value");
      ["dx", "dfilter", "dbias"].forEach((what, i) => expectClose(got.grads[i], want.grads[i], 1e-4, what));
      // Without dx (a model's first block) the filter and bias gradients are the same and dx is 0.
      const noDx = await block("wasm", c, false, data);
      expectClose(noDx.y, want.y, 1e-5, "value (no dx)");
      expect(noDx.grads[0].every((v) => v === 0)).toBe(true);
      ["dfilter", "dbias"].forEach((what, i) => expectClose(noDx.grads[i + 1], want.grads[i + 1], 1e-4, `${what} (no dx)`));
    });

    it.each([CASES[0], CASES[2], CASES[3]])("$name: NaN in the input gives the reference's values (ReLU keeps NaN, NaN never wins the max)", async (c) => {
      const [x, filter, bias] = caseData(c);
      // NaN pixels, one alone and a 2x2 patch: some windows hold a NaN among numbers, some only NaN.
      const nan = x.slice();
      const [, h, w, ch] = c.x;
      for (const [r, col] of [[1, 1], [4, 4], [4, 5], [5, 4], [5, 5]]) for (let k = 0; k < ch; k++) nan[(r * w + col) * ch + k] = NaN;
      expect(h).toBeGreaterThan(5);
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const args = [tf.tensor4d(nan, c.x as never), tf.tensor4d(filter, c.filter as never), tf.tensor1d(bias)] as const;
          return (backend === "cpu" ? convReluPoolComposite(...args, c.pad) : convReluPool(...args, c.pad)).dataSync().slice();
        });
      };
      const want = await run("cpu");
      const got = await run("wasm");
      expect(want.some((v) => v === -Infinity)).toBe(true); // a window of NaN only: nothing beat -Infinity
      const same = (a: number, b: number) =>
        Number.isNaN(a) ? Number.isNaN(b) : Number.isFinite(a) ? Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)) : a === b;
      want.forEach((v, i) => expect(same(v, got[i]), `value ${i}: ${got[i]}, want ${v}`).toBe(true));
    });

    it("runs as the two fused kernels on wasm", async () => {
      await tf.setBackend("wasm");
      const c = CASES[0];
      const [x, filter, bias] = caseData(c);
      const ran = await kernelsRun(() =>
        tf.grads((a: tf.Tensor) => tf.sum(convReluPool(a as tf.Tensor4D, tf.tensor4d(filter, c.filter as never), tf.tensor1d(bias), c.pad)))([
          tf.tensor4d(x, c.x as never),
        ]),
      );
      expect(ran.has(CONV_POOL_KERNEL) && ran.has(CONV_POOL_GRAD_KERNEL)).toBe(true);
      expect(ran.has("Conv2D") || ran.has("MaxPool") || ran.has("MaxPoolGrad")).toBe(false);
    });

    it("rejects what it cannot compute with one clear error", async () => {
      await tf.setBackend("wasm");
      const x = tf.ones([1, 3, 3, 1]);
      expect(() => tf.engine().runKernel(CONV_POOL_KERNEL, { x, filter: tf.ones([3, 3, 1, 8]), bias: tf.ones([8]) }, { pad: "valid" })).toThrow(
        /FedfusionConvPool: the conv output 1x1 is smaller than the 2x2 pooling window/,
      );
      expect(() => tf.engine().runKernel(CONV_POOL_KERNEL, { x: tf.ones([1, 6, 6, 1]), filter: tf.ones([3, 3, 1, 8]), bias: tf.ones([4]) }, { pad: "valid" })).toThrow(
        /bias \[4\] does not match 8 filters/,
      );
    });

    it("leaves no data behind: the conv output and dz are freed", async () => {
      await tf.setBackend("wasm");
      const c = CASES[4];
      const [x, filter, bias] = caseData(c);
      const before = dataIds();
      for (const inputGradient of [true, false]) {
        tf.tidy(() => {
          const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(convReluPool(a as tf.Tensor4D, b as tf.Tensor4D, tf.tensor1d(bias), c.pad, inputGradient)))([
            tf.tensor4d(x, c.x as never),
            tf.tensor4d(filter, c.filter as never),
          ]);
          g.forEach((t) => t.dataSync());
        });
      }
      expect(dataIds()).toBe(before);
    });
  });
}
