/**
 * The native (OpenBLAS) kernels on tfjs's wasm backend, against tfjs's stock `cpu` kernels as the
 * reference (both backends registered in this process): numerics over the shapes and attributes the
 * models use and edge cases, fallbacks, call counters, leaks, wasm heap growth, and training.
 * Fails (does not skip) when the addon is not built: CI installs libopenblas-dev and builds it during
 * `npm ci`.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import * as tfl from "@tensorflow/tfjs-layers"; // also registers tfjs-core's gradients
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runOnBackend } from "../../../helpers/kernels.js";
import { ADAM_KERNEL } from "../../../../shared/backends/adamKernel.js";
import { ATTENTION_KERNEL_NAMES, ENCODER_KERNEL_NAMES } from "../../../../shared/backends/encoderKernelNames.js";
import { CONV_POOL_KERNEL_NAMES } from "../../../../shared/backends/convPoolKernelNames.js";
import {
  nativeKernelStats,
  NATIVE_KERNEL_NAMES,
  registerNativeKernels,
  unregisterNativeKernels,
} from "../../../../shared/backends/native/nativeKernels.js";
import { registerWasmTrainingKernels, WASM_TRAINING_KERNEL_NAMES } from "../../../../shared/backends/wasmTrainingKernels.js";

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];

// Deterministic data (no Math.random: failures must reproduce).
let seed = 4242;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
function values(shape: readonly number[], scale = 1): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rand());
}

/** Input data, created as a tensor on whichever backend runs the kernel. */
interface Input {
  shape: number[];
  v: Float32Array | Int32Array;
  dtype?: "float32" | "int32";
}
const input = (shape: number[], scale = 1): Input => ({ shape, v: values(shape, scale) });
const tensors = (inputs: Record<string, Input>): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, tf.tensor(i.v, i.shape, i.dtype ?? "float32")]));

function nativeCount(name: string): number {
  return nativeKernelStats()[name]?.native ?? 0;
}
function fallbackCount(name: string): number {
  return nativeKernelStats()[name]?.fallback ?? 0;
}

interface Result {
  v: Float32Array;
  shape: number[];
}

let poison = true;

/**
 * Runs `fn` on `backend` and returns its outputs' values and shapes; leaves no tensor behind. On wasm,
 * freed heap blocks are first filled with NaN, so an output element a kernel fails to write shows up.
 * With `checkKernels`, the engine checks every kernel for leaked data ids ("internal memory leak").
 */
async function on(backend: string, fn: () => tf.Tensor | tf.Tensor[], checkKernels = true): Promise<Result[]> {
  // Freed blocks of several sizes full of NaN: the kernel's output is likely to reuse one.
  const poisonHeap = () => tf.dispose([1 << 10, 1 << 14, 1 << 18, 1 << 20].map((n) => tf.fill([n], NaN)));
  const res = await runOnBackend(backend, fn, checkKernels, backend === "wasm" && poison ? poisonHeap : undefined);
  await tf.setBackend("wasm");
  return res;
}

/** |got - want| <= rtol * max(1, max|want|) elementwise (NaN only where the reference has NaN). */
function expectClose(got: Result[], want: Result[], label: string, rtol = 2e-5): void {
  expect(got.length, label).toBe(want.length);
  for (let o = 0; o < want.length; o++) {
    expect(got[o]!.shape, `${label}: output ${o} shape`).toEqual(want[o]!.shape);
    const r = want[o]!.v;
    const g = got[o]!.v;
    let scale = 1;
    for (const x of r) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    const tol = rtol * scale;
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(r[i]! - g[i]!);
      if (!(d <= tol) && !Object.is(r[i], g[i])) {
        throw new Error(`${label}: output ${o} differs at ${i}: native ${g[i]} vs cpu ${r[i]} (tol ${tol})`);
      }
    }
  }
}

/** `fn` on wasm must match the cpu reference and must have run `kernel` natively `times` times. */
async function expectNativeMatchesCpu(
  label: string,
  kernel: string | string[],
  fn: () => tf.Tensor | tf.Tensor[],
  opts: { times?: number; rtol?: number; checkKernels?: boolean } = {},
): Promise<void> {
  const kernels = Array.isArray(kernel) ? kernel : [kernel];
  const want = await on("cpu", fn, opts.checkKernels ?? true);
  const before = kernels.map(nativeCount);
  const fallbacks = kernels.map(fallbackCount);
  const got = await on("wasm", fn, opts.checkKernels ?? true);
  const ran = kernels.reduce((s, k, i) => s + nativeCount(k) - before[i]!, 0);
  if (opts.times === undefined) expect(ran, `${label}: ${kernels.join("/")} ran natively`).toBeGreaterThan(0);
  else expect(ran, `${label}: ${kernels.join("/")} native calls`).toBe(opts.times);
  kernels.forEach((k, i) => expect(fallbackCount(k), `${label}: ${k} fell back`).toBe(fallbacks[i]));
  expectClose(got, want, label, opts.rtol);
}

/** One kernel call, run natively on wasm and by the stock cpu kernel. */
async function checkKernel(name: string, inputs: Record<string, Input>, attrs: Record<string, unknown>, label: string): Promise<void> {
  await expectNativeMatchesCpu(`${name} ${label}`, name, () => tf.engine().runKernel(name, tensors(inputs), attrs as tf.NamedAttrMap) as tf.Tensor, {
    times: 1,
  });
}

/** One kernel call that the native path leaves to the previous (project or stock wasm) kernel. */
async function checkFallback(
  name: string,
  inputs: Record<string, Input>,
  attrs: Record<string, unknown>,
  label: string,
  compare = true,
): Promise<void> {
  const fn = () => tf.engine().runKernel(name, tensors(inputs), attrs as tf.NamedAttrMap) as tf.Tensor;
  const before = fallbackCount(name);
  const natives = nativeCount(name);
  if (compare) {
    const want = await on("cpu", fn);
    const got = await on("wasm", fn);
    expectClose(got, want, `${name} ${label} (fallback)`, 1e-4);
  } else {
    await tf.setBackend("wasm");
    try {
      tf.tidy(() => {
        fn().dataSync();
      });
    } catch {
      // The previous kernel's own verdict (e.g. stock wasm rejecting int32) is not under test here.
    }
  }
  expect(fallbackCount(name), `${name} ${label}: fell back`).toBe(before + 1);
  expect(nativeCount(name), `${name} ${label}: not native`).toBe(natives);
}

function heapBytes(): number {
  return (tf.findBackend("wasm") as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
}

let unavailable: string | undefined;
let registered: string[] = [];
let blas = "";
const cpuKernelsBefore = new Map<string, unknown>();

beforeAll(async () => {
  for (const name of NATIVE_KERNEL_NAMES) cpuKernelsBefore.set(name, tf.getKernel(name, "cpu")?.kernelFunc);
  const r = registerNativeKernels();
  if (!r.ok) {
    unavailable = r.reason;
    return;
  }
  registered = r.kernels;
  blas = r.blas;
  await tf.setBackend("cpu");
  await tf.setBackend("wasm");
  await tf.ready();
});

// Every test fails (none is skipped) with the reason when the addon is not built or cannot load.
beforeEach(() => {
  if (unavailable !== undefined) throw new Error(`native kernels unavailable: ${unavailable}`);
});

afterAll(() => {
  unregisterNativeKernels();
});

// ---------------------------------------------------------------------------------------------------
// First, while the wasm heap is still small.

describe("wasm heap growth", () => {
  it("a kernel whose output allocation grows the heap still reads its inputs and writes its output correctly", async () => {
    await tf.setBackend("wasm");
    const start = heapBytes();
    // An outer product with an output larger than the whole heap: allocating it must grow the memory
    // (detaching every earlier view of it) after the inputs were placed.
    const M = 2048;
    const N = Math.ceil((start * 1.25) / 4 / M);
    const a = values([M, 1]);
    const b = values([1, N]);
    const before = nativeCount(tf.BatchMatMul);
    const out = tf.tidy(() => tf.matMul(tf.tensor2d(a, [M, 1]), tf.tensor2d(b, [1, N])));
    expect(nativeCount(tf.BatchMatMul)).toBe(before + 1);
    expect(heapBytes(), "the heap grew during the kernel").toBeGreaterThan(start);
    const y = out.dataSync();
    out.dispose();
    let worst = 0;
    for (let i = 0; i < M; i += 7) {
      for (let j = 0; j < N; j += 13) worst = Math.max(worst, Math.abs(y[i * N + j]! - a[i]! * b[j]!));
    }
    expect(worst).toBeLessThan(1e-6);
    expect(y[M * N - 1]).toBeCloseTo(a[M - 1]! * b[N - 1]!, 6);
  });

  it("growing the heap between calls (a large tensor allocated) corrupts neither earlier results nor later calls", async () => {
    const x = input([4, 12, 12, 3]);
    const f = input([3, 3, 3, 8]);
    const conv = () => {
      const t = tensors({ x, f });
      return tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, 1, "same");
    };
    const [want] = await on("cpu", conv);
    await tf.setBackend("wasm");
    const first = conv();
    const start = heapBytes();
    const big = tf.zeros([Math.ceil((start * 1.25) / 4)]);
    expect(heapBytes(), "the heap grew").toBeGreaterThan(start);
    const second = conv();
    const wants = [want!, want!];
    expectClose([{ v: first.dataSync() as Float32Array, shape: first.shape }, { v: second.dataSync() as Float32Array, shape: second.shape }], wants, "conv across growth");
    tf.dispose([first, second, big]);
  });
});

describe("registration", () => {
  it("applies the project's wasm kernels, then replaces the heavy kernels on wasm only", () => {
    // The kernels it replaces, then the fused encoder and conv-block kernels it adds and the native Adam update.
    expect([...registered].sort()).toEqual([...NATIVE_KERNEL_NAMES, ...ENCODER_KERNEL_NAMES, ...ATTENTION_KERNEL_NAMES, ...CONV_POOL_KERNEL_NAMES, ADAM_KERNEL].sort());
    expect([...NATIVE_KERNEL_NAMES].sort()).toEqual(
      [
        "BatchMatMul", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput", "FusedConv2D", "MaxPool", "MaxPoolGrad", "_FusedMatMul",
        "Tanh", "Sum", "Transpose",
      ].sort(),
    );
    expect(blas).toMatch(/OpenBLAS.*core \w+/);
    // Already registered: nothing changes.
    const again = registerNativeKernels();
    expect(again.ok && again.kernels.sort()).toEqual([...registered].sort());
    // The project's kernels are in place (the missing filter gradient exists) and are not re-applied
    // over the native ones.
    for (const name of WASM_TRAINING_KERNEL_NAMES) expect(tf.getKernel(name, "wasm"), name).toBeDefined();
    const replaced = [...NATIVE_KERNEL_NAMES, ADAM_KERNEL];
    const funcs = replaced.map((n) => tf.getKernel(n, "wasm").kernelFunc);
    expect(registerWasmTrainingKernels()).toEqual([]);
    expect(replaced.map((n) => tf.getKernel(n, "wasm").kernelFunc)).toEqual(funcs);
    // The cpu backend keeps its stock kernels (they are the reference here).
    for (const name of NATIVE_KERNEL_NAMES) expect(tf.getKernel(name, "cpu")?.kernelFunc, name).toBe(cpuKernelsBefore.get(name));
  });

  it("unregistering puts the previous wasm kernels back; registering again replaces them again", async () => {
    const nativeFuncs = NATIVE_KERNEL_NAMES.map((n) => tf.getKernel(n, "wasm").kernelFunc);
    const nativeAdam = tf.getKernel(ADAM_KERNEL, "wasm").kernelFunc;
    unregisterNativeKernels();
    try {
      NATIVE_KERNEL_NAMES.forEach((n, i) => expect(tf.getKernel(n, "wasm").kernelFunc, n).not.toBe(nativeFuncs[i]));
      // Adam's update is the JavaScript kernel again.
      expect(tf.getKernel(ADAM_KERNEL, "wasm")?.kernelFunc).toBeDefined();
      expect(tf.getKernel(ADAM_KERNEL, "wasm").kernelFunc).not.toBe(nativeAdam);
      // The project's filter gradient is what runs now: no native call.
      const before = nativeCount(tf.Conv2DBackpropFilter);
      await tf.setBackend("wasm");
      tf.tidy(() => {
        const x = tf.ones([1, 5, 5, 2]);
        const dy = tf.ones([1, 5, 5, 3]);
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 2, 3] });
      });
      expect(nativeCount(tf.Conv2DBackpropFilter)).toBe(before);
    } finally {
      const r = registerNativeKernels();
      expect(r.ok).toBe(true);
    }
    const counted = nativeCount(tf.BatchMatMul);
    tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 4])));
    expect(nativeCount(tf.BatchMatMul)).toBe(counted + 1);
  });
});

// ---------------------------------------------------------------------------------------------------

describe("Tanh", () => {
  it("matches tanh to float32 precision across the range, including ±0, ±Inf, NaN and the clamp", async () => {
    const special = [0, -0, 1e-8, -3e-4, 4e-4, 0.5, -1, 3, 7.9, 7.99881172180175781, 8, -9, 20, 1e30, Infinity, -Infinity, NaN];
    const sweep = Array.from({ length: 4001 }, (_, i) => -10 + i * 0.005);
    const v = Float32Array.from([...special, ...sweep]);
    await checkKernel(tf.Tanh, { x: { shape: [v.length], v } }, {}, "sweep");
    // Tight: a few float32 ulp of 1, not just the suite's default tolerance.
    const got = await on("wasm", () => tf.tanh(tf.tensor1d(v)));
    for (let i = 0; i < v.length; i++) {
      if (Number.isNaN(v[i])) expect(got[0]!.v[i]).toBeNaN();
      else expect(Math.abs(got[0]!.v[i]! - Math.tanh(v[i]!)), `tanh(${v[i]})`).toBeLessThan(4e-7);
    }
  });

  it("the gradient of tanh (through the tape) matches cpu", async () => {
    const x = values([20, 15], 3);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.tanh(t), tf.reshape(tf.range(0, 300), [20, 15])));
    await expectNativeMatchesCpu("tanh gradient", tf.Tanh, () => tf.grad(f)(tf.tensor(x, [20, 15])), { checkKernels: false });
  });
});

describe("Sum", () => {
  const cases: Array<[number[], number | number[], boolean, string]> = [
    [[1600, 64], 0, false, "bias gradient of a dense layer on tokens"],
    [[32, 28, 28, 8], [0, 1, 2], false, "conv bias gradient"],
    [[32, 50, 64], [0, 1], true, "layer norm gain gradient, keepDims"],
    [[37, 53], 1, false, "rows"],
    [[4, 5, 6], [1, 2], true, "trailing axes, keepDims"],
    [[4, 5, 6], [-1], false, "negative axis"],
    [[7, 9], [0, 1], false, "everything"],
    [[5], 0, false, "a vector"],
  ];
  for (const [shape, axis, keepDims, note] of cases) {
    it(`[${shape}] axis ${JSON.stringify(axis)}${keepDims ? " keepDims" : ""} (${note})`, async () => {
      await checkKernel(tf.Sum, { x: input(shape, 10) }, { axis, keepDims }, `[${shape}] axis ${axis}`);
    });
  }

  it("leaves middle axes, empty tensors and int32 to the previous kernel", async () => {
    await checkFallback(tf.Sum, { x: input([3, 4, 5]) }, { axis: [1], keepDims: false }, "middle axis");
    await checkFallback(tf.Sum, { x: input([3, 4, 5]) }, { axis: [0, 2], keepDims: false }, "first and last axes");
    await checkFallback(tf.Sum, { x: { shape: [0, 4], v: new Float32Array(0) } }, { axis: [0], keepDims: false }, "empty");
    const i32: Input = { shape: [2, 3], v: Int32Array.from([1, 2, 3, 4, 5, 6]), dtype: "int32" };
    await checkFallback(tf.Sum, { x: i32 }, { axis: [0], keepDims: false }, "int32", false);
  });
});

describe("Transpose", () => {
  const cases: Array<[number[], number[], string]> = [
    [[32, 50, 4, 16], [0, 2, 1, 3], "attention: split heads"],
    [[32, 4, 50, 16], [0, 2, 1, 3], "attention: merge heads"],
    [[2, 3, 4, 5, 6, 7], [4, 2, 0, 3, 1, 5], "rank 6"],
    [[6, 5, 4], [1, 0, 2], "swap the leading axes"],
    [[9, 11], [0, 1], "identity"],
    [[0, 3, 2], [1, 0, 2], "empty"],
  ];
  for (const [shape, perm, note] of cases) {
    it(`[${shape}] perm [${perm}] (${note})`, async () => {
      await checkKernel(tf.Transpose, { x: input(shape) }, { perm }, `[${shape}] perm [${perm}]`);
    });
  }

  it("leaves permutations that move the last axis, and int32, to the previous kernel", async () => {
    await checkFallback(tf.Transpose, { x: input([5, 7]) }, { perm: [1, 0] }, "matrix transpose");
    const i32: Input = { shape: [2, 3, 1], v: Int32Array.from([1, 2, 3, 4, 5, 6]), dtype: "int32" };
    await checkFallback(tf.Transpose, { x: i32 }, { perm: [1, 0, 2] }, "int32", false);
  });
});

describe("BatchMatMul", () => {
  const cases: Array<[number[], number[], boolean, boolean, string?]> = [
    [[37, 53], [53, 29], false, false],
    [[53, 37], [53, 29], true, false],
    [[37, 53], [29, 53], false, true],
    [[53, 37], [29, 53], true, true],
    [[4, 17, 23], [4, 23, 9], false, false, "batched"],
    [[4, 23, 17], [4, 9, 23], true, true, "batched, both transposed"],
    [[1, 17, 23], [5, 23, 9], false, false, "a broadcast"],
    [[5, 17, 23], [1, 23, 9], false, false, "b broadcast: one stacked sgemm"],
    [[5, 17, 23], [23, 9], false, false, "rank 3 x rank 2"],
    [[5, 23, 17], [1, 9, 23], true, true, "b broadcast with transposes"],
    [[5, 23, 17], [23, 9], true, false, "rank 3 transposed x rank 2"],
    [[2, 3, 8, 6], [2, 3, 6, 4], false, false, "rank 4"],
    [[1, 3, 8, 6], [3, 6, 4], false, false, "rank 4 x rank 3 (outer [1,3] vs [3])"],
    [[1, 1], [1, 1], false, false],
    [[3, 0], [0, 4], false, false, "K = 0: zeros"],
    [[0, 5], [5, 4], false, false, "M = 0"],
    // The models' shapes (batch 32 -> 8 here): dense layers and their gradients, attention.
    [[8, 5408], [5408, 10], false, false, "cnn dense"],
    [[8, 5408], [8, 10], true, false, "cnn dense dW = x^T dy"],
    [[8, 10], [5408, 10], false, true, "cnn dense dx = dy W^T"],
    [[8, 1600], [1600, 128], false, false, "large dense"],
    [[8, 49, 64], [64, 64], false, false, "fusion token projection"],
    [[32, 50, 16], [32, 50, 16], false, true, "attention scores Q K^T"],
    [[32, 50, 50], [32, 50, 16], false, false, "attention output A V"],
    [[32, 50, 50], [32, 50, 16], true, false, "attention dV = A^T dO"],
    [[32, 50, 16], [32, 50, 16], true, false, "attention dK-like Q^T"],
  ];
  for (const [sa, sb, ta, tb, note] of cases) {
    it(`[${sa}] x [${sb}] transposeA=${ta} transposeB=${tb}${note ? ` (${note})` : ""}`, async () => {
      await checkKernel(tf.BatchMatMul, { a: input(sa), b: input(sb) }, { transposeA: ta, transposeB: tb }, `[${sa}]x[${sb}]`);
    });
  }

  it("leaves batch broadcasts it does not cover ([2,1] vs [1,5] outer dims) to the previous kernel", async () => {
    await checkFallback(tf.BatchMatMul, { a: input([2, 1, 3, 4]), b: input([1, 5, 4, 6]) }, { transposeA: false, transposeB: false }, "[2,1,3,4]x[1,5,4,6]");
  });

  it("leaves int32 to the previous kernel", async () => {
    const i32 = (shape: number[]): Input => ({ shape, v: Int32Array.from({ length: shape[0]! * shape[1]! }, (_, i) => i), dtype: "int32" });
    await checkFallback(tf.BatchMatMul, { a: i32([2, 2]), b: i32([2, 2]) }, { transposeA: false, transposeB: false }, "int32", false);
  });
});

describe("_FusedMatMul", () => {
  const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "prelu", "sigmoid"] as const;
  for (const activation of activations) {
    for (const [ta, tb] of [[false, false], [true, true], [false, true]] as const) {
      it(`bias [N] + ${activation}, transposeA=${ta} transposeB=${tb}`, async () => {
        const M = 19, K = 31, N = 13;
        const inputs: Record<string, Input> = {
          a: input(ta ? [1, K, M] : [1, M, K], 6),
          b: input(tb ? [1, N, K] : [1, K, N]),
          bias: input([N]),
        };
        if (activation === "prelu") inputs.preluActivationWeights = input([N]);
        await checkKernel(tf._FusedMatMul, inputs, { transposeA: ta, transposeB: tb, activation, leakyreluAlpha: 0.13 }, activation);
      });
    }
  }

  it("scalar bias, full-shape bias, [1,N] bias, prelu with scalar and full weights, no bias, batched", async () => {
    const a = input([3, 7, 11]);
    const b = input([3, 11, 6]);
    const attrs = (activation?: string) => ({ transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 });
    await checkKernel(tf._FusedMatMul, { a, b, bias: input([]) }, attrs("relu"), "scalar bias");
    await checkKernel(tf._FusedMatMul, { a, b, bias: input([3, 7, 6]) }, attrs("linear"), "full bias");
    await checkKernel(tf._FusedMatMul, { a, b, bias: input([1, 6]) }, attrs("elu"), "[1,N] bias");
    await checkKernel(tf._FusedMatMul, { a, b, preluActivationWeights: input([]) }, attrs("prelu"), "prelu scalar, no bias");
    await checkKernel(tf._FusedMatMul, { a, b, bias: input([6]), preluActivationWeights: input([3, 7, 6]) }, attrs("prelu"), "prelu full");
    await checkKernel(tf._FusedMatMul, { a, b }, attrs(undefined), "no bias, no activation");
    await checkKernel(tf._FusedMatMul, { a: input([1, 7, 11]), b }, attrs("sigmoid"), "a broadcast, no bias");
  });

  it("leaves a bias that broadcasts along rows to the previous kernel", async () => {
    await checkFallback(tf._FusedMatMul, { a: input([1, 7, 11]), b: input([1, 11, 6]), bias: input([7, 1]) }, { transposeA: false, transposeB: false, activation: "relu" }, "[M,1] bias", false);
  });

  it("tf.fused.matMul (a dense layer's forward pass) goes through the native kernel", async () => {
    const a = input([9, 4]);
    const b = input([4, 3]);
    const bias = input([3]);
    await expectNativeMatchesCpu("fused.matMul", tf._FusedMatMul, () => {
      const t = tensors({ a, b, bias });
      return tf.fused.matMul({ a: t.a as tf.Tensor2D, b: t.b as tf.Tensor2D, bias: t.bias, activation: "relu" });
    }, { times: 1, checkKernels: false });
  });
});

// ---------------------------------------------------------------------------------------------------

interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

const convCases: ConvCase[] = [
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 1, pad: "same" },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 1, pad: "valid" },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 2, pad: "same" },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 2, pad: "valid" },
  { x: [2, 10, 11, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: "valid" },
  { x: [1, 8, 8, 2], f: [5, 5, 2, 3], strides: 1, pad: "same" },
  { x: [2, 7, 7, 3], f: [2, 2, 3, 2], strides: 1, pad: "same" }, // even filter: asymmetric 'same' padding
  { x: [3, 6, 7, 4], f: [1, 1, 4, 6], strides: 1, pad: "valid" }, // pointwise: no im2col
  { x: [3, 6, 7, 4], f: [1, 1, 4, 6], strides: 2, pad: "same" },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 2, pad: [[0, 0], [3, 1], [0, 2], [0, 0]] },
  { x: [2, 10, 10, 2], f: [3, 3, 2, 3], strides: 2, pad: 1, dimRoundingMode: "ceil" },
  { x: [2, 10, 10, 2], f: [3, 3, 2, 3], strides: 1, pad: 2, dimRoundingMode: "floor" },
  { x: [1, 3, 3, 2], f: [5, 5, 2, 3], strides: 1, pad: "same" }, // filter larger than the image
  // The models' layers (batch 32 -> 4 here).
  { x: [4, 28, 28, 1], f: [3, 3, 1, 32], strides: 1, pad: "valid" }, // cnn conv1
  { x: [4, 13, 13, 64], f: [3, 3, 64, 64], strides: 1, pad: "valid" }, // large conv2
  { x: [4, 28, 28, 1], f: [3, 3, 1, 32], strides: 1, pad: "same" }, // fusion stem 1
  { x: [4, 14, 14, 32], f: [3, 3, 32, 64], strides: 1, pad: "same" }, // fusion stem 2
  { x: [8, 64, 64, 16], f: [3, 3, 16, 4], strides: 1, pad: "same" }, // 32768 rows x 144 > 2^22: im2col in chunks
];

const dilatedCases: ConvCase[] = [
  { x: [2, 11, 12, 3], f: [3, 3, 3, 4], strides: 1, pad: "same", dilations: 2 },
  { x: [2, 11, 12, 3], f: [3, 2, 3, 4], strides: 1, pad: "valid", dilations: [2, 3] },
];

function label(c: ConvCase): string {
  return `x[${c.x}] f[${c.f}] s=${JSON.stringify(c.strides)} pad=${JSON.stringify(c.pad)}` +
    (c.dilations ? ` d=${JSON.stringify(c.dilations)}` : "") +
    (c.dimRoundingMode ? ` ${c.dimRoundingMode}` : "");
}

/** Kernel attributes as tfjs's ops pass them (explicit paddings go in as `pad` itself). */
function convAttrs(c: ConvCase): Record<string, unknown> {
  return { strides: c.strides, pad: c.pad, dataFormat: "NHWC", dilations: c.dilations ?? 1, dimRoundingMode: c.dimRoundingMode };
}

function convOutShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x as Shape4, c.f as Shape4, c.strides, c.dilations ?? 1, c.pad, c.dimRoundingMode).outShape;
}

describe("Conv2D", () => {
  for (const c of [...convCases, ...dilatedCases]) {
    it(label(c), async () => {
      await checkKernel(tf.Conv2D, { x: input(c.x), filter: input(c.f) }, convAttrs(c), label(c));
    });
  }

  it("tf.conv2d (the public op) goes through the native kernel", async () => {
    const x = input([2, 9, 9, 3]);
    const f = input([3, 3, 3, 4]);
    await expectNativeMatchesCpu("tf.conv2d", tf.Conv2D, () => {
      const t = tensors({ x, f });
      return tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, 2, [[0, 0], [1, 0], [0, 1], [0, 0]]);
    }, { times: 1 });
  });

  it("leaves NCHW to the previous kernel", async () => {
    await checkFallback(tf.Conv2D, { x: input([2, 3, 8, 9]), filter: input([3, 3, 3, 4]) }, { strides: 1, pad: "same", dataFormat: "NCHW", dilations: 1 }, "NCHW", false);
  });
});

describe("FusedConv2D", () => {
  const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "prelu", "sigmoid"] as const;
  for (const activation of activations) {
    it(`bias [OC] + ${activation}`, async () => {
      const inputs: Record<string, Input> = { x: input([2, 9, 10, 3], 2), filter: input([3, 3, 3, 6]), bias: input([6]) };
      if (activation === "prelu") inputs.preluActivationWeights = input([6]);
      await checkKernel(
        tf.FusedConv2D,
        inputs,
        { strides: 2, pad: "same", dataFormat: "NHWC", dilations: 1, activation, leakyreluAlpha: 0.07 },
        activation,
      );
    });
  }

  it("scalar bias, no bias, full-shape prelu weights, valid padding and dilations", async () => {
    const x = input([2, 12, 11, 4]);
    const filter = input([3, 3, 4, 5]);
    const base = { strides: 1, dataFormat: "NHWC", leakyreluAlpha: 0.2 };
    await checkKernel(tf.FusedConv2D, { x, filter, bias: input([]) }, { ...base, pad: "valid", dilations: 1, activation: "relu" }, "scalar bias");
    await checkKernel(tf.FusedConv2D, { x, filter }, { ...base, pad: "same", dilations: 2, activation: "elu" }, "no bias, dilated");
    await checkKernel(tf.FusedConv2D, { x, filter, preluActivationWeights: input([2, 12, 11, 5]) }, { ...base, pad: "same", dilations: 1, activation: "prelu" }, "full prelu");
  });

  it("tf.fused.conv2d (the public op) goes through the native kernel", async () => {
    const x = input([2, 12, 11, 4]);
    const f = input([3, 3, 4, 5]);
    const bias = input([5]);
    await expectNativeMatchesCpu("fused.conv2d", tf.FusedConv2D, () => {
      const t = tensors({ x, f, bias });
      return tf.fused.conv2d({ x: t.x as tf.Tensor4D, filter: t.f as tf.Tensor4D, strides: 1, pad: "same", bias: t.bias, activation: "relu" });
    }, { times: 1, checkKernels: false });
  });
});

describe("Conv2DBackpropFilter and Conv2DBackpropInput", () => {
  for (const c of convCases) {
    it(label(c), async () => {
      const x = input(c.x);
      const filter = input(c.f);
      const dy = input(convOutShape(c));
      const attrs = { ...convAttrs(c), filterShape: c.f, inputShape: c.x };
      await checkKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs, label(c));
      await checkKernel(tf.Conv2DBackpropInput, { dy, filter }, attrs, label(c));
    });
  }

  it("gradients through tf.grads use both kernels and match the cpu gradients", async () => {
    const x = input([3, 10, 9, 4]);
    const filter = input([3, 3, 4, 5]);
    const r = input([3, 5, 5, 5]);
    await expectNativeMatchesCpu("conv grads", [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput], () => {
      const t = tensors({ x, filter, r });
      const f = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, "same"), t.r!));
      return tf.grads(f)([t.x!, t.filter!]);
    }, { times: 2, checkKernels: false });
  });

  it("leaves NCHW to the previous (project) kernels, which match cpu", async () => {
    const attrs = { strides: 1, pad: "same", dataFormat: "NCHW", filterShape: [3, 3, 3, 4], inputShape: [2, 3, 8, 9] };
    await checkFallback(tf.Conv2DBackpropFilter, { x: input([2, 3, 8, 9]), dy: input([2, 4, 8, 9]) }, attrs, "NCHW");
    await checkFallback(tf.Conv2DBackpropInput, { dy: input([2, 4, 8, 9]), filter: input([3, 3, 3, 4]) }, attrs, "NCHW");
  });
});

describe("MaxPool and MaxPoolGrad", () => {
  interface PoolCase {
    x: number[];
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: "same" | "valid" | number;
    dimRoundingMode?: "floor" | "round" | "ceil";
    ties?: boolean;
    negative?: boolean;
  }
  const cases: PoolCase[] = [
    { x: [2, 10, 10, 3], filterSize: 2, strides: 2, pad: "valid" },
    { x: [2, 9, 11, 4], filterSize: 2, strides: 2, pad: "valid" }, // odd sizes: the last row/column is dropped
    { x: [2, 9, 11, 4], filterSize: 3, strides: 2, pad: "same" },
    { x: [2, 9, 11, 4], filterSize: 3, strides: 1, pad: "same" }, // overlapping windows: gradients add up
    { x: [1, 8, 9, 2], filterSize: [2, 3], strides: [1, 2], pad: "valid" },
    { x: [2, 10, 10, 2], filterSize: 3, strides: 2, pad: 1, dimRoundingMode: "ceil" },
    { x: [2, 8, 8, 3], filterSize: 3, strides: 1, pad: "same", ties: true }, // ties: the first maximum wins
    { x: [2, 8, 8, 3], filterSize: 2, strides: 2, pad: "same", negative: true }, // windows with all values < 0
    { x: [8, 26, 26, 32], filterSize: 2, strides: 2, pad: "valid" }, // the cnn's pooling layer (batch 8)
    // Windows that do not overlap take the branch-free path: ties, all-negative and padded windows there too.
    { x: [2, 8, 8, 5], filterSize: 2, strides: 2, pad: "valid", ties: true },
    { x: [2, 9, 9, 3], filterSize: 3, strides: 3, pad: "same", ties: true },
    { x: [1, 7, 10, 4], filterSize: [2, 3], strides: [3, 3], pad: "valid", negative: true }, // stride > window: rows skipped
  ];
  for (const c of cases) {
    const name = `x[${c.x}] filter=${JSON.stringify(c.filterSize)} s=${JSON.stringify(c.strides)} pad=${c.pad}` +
      (c.dimRoundingMode ? ` ${c.dimRoundingMode}` : "") + (c.ties ? " with ties" : "") + (c.negative ? " all negative" : "");
    it(name, async () => {
      const xv = values(c.x).map((v) => (c.ties ? Math.round(v * 3) : c.negative ? -Math.abs(v) - 0.1 : v));
      const x: Input = { shape: c.x, v: xv };
      const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad, dimRoundingMode: c.dimRoundingMode };
      await checkKernel(tf.MaxPool, { x }, attrs, name);
      const outShape = tf.backend_util.computePool2DInfo(c.x as Shape4, c.filterSize, c.strides, 1, c.pad, c.dimRoundingMode).outShape;
      const dy = input(outShape);
      // The grad kernel's `output` input (the pooled values) is not read by either implementation.
      await checkKernel(tf.MaxPoolGrad, { dy, input: x, output: input(outShape) }, attrs, name);
    });
  }

  it("overlapping windows add their gradients as cpu does: in float64, rounded once (bit for bit)", async () => {
    // x's centre is the maximum of all nine 3x3 windows around it. The first window in row-major order
    // sends it 1, the other eight 2^-24 each: added one by one in float32 each of those is lost (1 + 2^-24
    // rounds to 1), while cpu's float64 sum gives 1 + 2^-21.
    const x: Input = { shape: [1, 5, 5, 1], v: Float32Array.from({ length: 25 }, (_, i) => (i === 12 ? 10 : -1)) };
    const dyv = new Float32Array(25);
    for (let oh = 1; oh <= 3; oh++) for (let ow = 1; ow <= 3; ow++) dyv[oh * 5 + ow] = oh === 1 && ow === 1 ? 1 : 2 ** -24;
    const dy: Input = { shape: [1, 5, 5, 1], v: dyv };
    const fn = () => tf.engine().runKernel(tf.MaxPoolGrad, tensors({ dy, input: x, output: dy }), { filterSize: 3, strides: 1, pad: "same" }) as tf.Tensor;
    await expectNativeMatchesCpu("maxPoolGrad float64 sum", tf.MaxPoolGrad, fn, { times: 1, rtol: 0 });
    const [cpu] = await on("cpu", fn);
    expect(cpu!.v[12]).toBe(Math.fround(1 + 2 ** -21));
  });

  it("gradients through tf.maxPool use both kernels", async () => {
    const x = input([3, 8, 8, 5]);
    await expectNativeMatchesCpu("d maxPool", [tf.MaxPool, tf.MaxPoolGrad], () => {
      const t = tensors({ x });
      return tf.grad((xx: tf.Tensor) => tf.sum(tf.square(tf.maxPool(xx as tf.Tensor4D, 2, 2, "valid"))))(t.x!);
    }, { checkKernels: false });
  });
});

// ---------------------------------------------------------------------------------------------------

describe("memory", () => {
  it("leaks no tensors, data buffers or heap over repeated forward and backward passes", async () => {
    await tf.setBackend("wasm");
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = tf.tensor(values([4, 12, 12, 3]), [4, 12, 12, 3]);
    const w = tf.variable(tf.tensor(values([3, 3, 3, 8]), [3, 3, 3, 8]));
    const d = tf.variable(tf.tensor(values([8 * 3 * 3, 5]), [72, 5]));
    const q = tf.variable(tf.tensor(values([8, 8]), [8, 8]));
    const bias = tf.tensor(values([8]), [8]);
    const optimizer = tf.train.adam(0.01);
    const step = () =>
      tf.tidy(() => {
        optimizer.minimize(() => {
          const h = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 2, pad: "same", bias, activation: "relu" });
          const p = tf.maxPool(h, 2, 2, "valid"); // [4, 3, 3, 8]
          const tokens = tf.reshape(p, [4, 9, 8]);
          // (tfjs-core's matMul gradient does not reduce a broadcast batch: project in 2-D.)
          const queries = tf.reshape(tf.matMul(tf.reshape(tokens, [36, 8]), q), [4, 9, 8]);
          const att = tf.softmax(tf.matMul(queries, tokens, false, true)); // [4, 9, 9]
          const mixed = tf.matMul(att, tokens); // [4, 9, 8]
          const out = tf.fused.matMul({ a: tf.reshape(mixed, [4, -1]) as tf.Tensor2D, b: d as tf.Tensor2D, activation: "sigmoid" });
          return tf.mean(tf.square(out)) as tf.Scalar;
        });
      });
    step();
    step(); // warm up (optimizer slots)
    const counts = NATIVE_KERNEL_NAMES.map(nativeCount);
    const before = tf.memory();
    const ids = backend.numDataIds();
    const heap = heapBytes();
    for (let i = 0; i < 20; i++) step();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(backend.numDataIds()).toBe(ids);
    expect(heapBytes(), "the wasm heap did not grow").toBe(heap);
    // And the step did run natively.
    const ran = NATIVE_KERNEL_NAMES.filter((k, i) => nativeCount(k) > counts[i]!);
    for (const k of [tf.BatchMatMul, tf.Conv2DBackpropFilter, tf.MaxPool, tf.MaxPoolGrad]) expect(ran, k).toContain(k);
    optimizer.dispose();
    tf.dispose([x, w, d, q, bias]);
  });
});

// ---------------------------------------------------------------------------------------------------

describe("training", () => {
  /** 12x12 images of a horizontal (class 0) or vertical (class 1) bar at random positions, plus noise. */
  function bars(n: number): { xs: Float32Array; ys: Float32Array; n: number } {
    const xs = new Float32Array(n * 144);
    const ys = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const cls = i % 2;
      const pos = 1 + Math.floor((rand() + 0.5) * 10);
      for (let p = 0; p < 144; p++) xs[i * 144 + p] = 0.1 * rand();
      for (let t = 0; t < 12; t++) xs[i * 144 + (cls === 0 ? pos * 12 + t : t * 12 + pos)] += 1;
      ys[i * 2 + cls] = 1;
    }
    return { xs, ys, n };
  }

  function cnn(): tfl.Sequential {
    const m = tfl.sequential();
    const init = (s: number) => tfl.initializers.glorotUniform({ seed: s });
    m.add(tfl.layers.conv2d({ inputShape: [12, 12, 1], filters: 8, kernelSize: 3, activation: "relu", padding: "same", kernelInitializer: init(1) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu", kernelInitializer: init(2) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 16, activation: "relu", kernelInitializer: init(3) }));
    m.add(tfl.layers.dense({ units: 2, activation: "softmax", kernelInitializer: init(4) }));
    return m;
  }

  /**
   * A tiny attention classifier over the 12 rows of the image as tokens: token projection, one head of
   * self-attention (batched matMuls, transposeB, softmax), a residual, mean pooling and a dense layer.
   */
  function attentionModel(seedBase: number) {
    let s = seedBase;
    const init = (shape: number[], scale: number) => {
      const v = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
        s = (s * 1103515245 + 12345) >>> 0;
        return scale * (s / 2 ** 32 - 0.5);
      });
      return tf.variable(tf.tensor(v, shape));
    };
    const D = 16;
    const vars = {
      proj: init([12, D], 0.5), bp: init([D], 0.1), wq: init([D, D], 0.5), wk: init([D, D], 0.5), wv: init([D, D], 0.5),
      out: init([D, 2], 0.5), bo: init([2], 0.1),
    };
    const apply = (x: tf.Tensor) => {
      const b = x.shape[0]!;
      // Per-token dense layers in 2-D, as tfjs-layers does (tfjs-core's matMul gradient does not reduce
      // a broadcast batch).
      const dense = (t: tf.Tensor, w: tf.Tensor) => tf.reshape(tf.matMul(tf.reshape(t, [-1, t.shape.at(-1)!]), w), [b, 12, D]);
      const tokens = tf.add(dense(tf.reshape(x, [b, 12, 12]), vars.proj), vars.bp); // [b, 12, D]
      const q = dense(tokens, vars.wq);
      const k = dense(tokens, vars.wk);
      const v = dense(tokens, vars.wv);
      const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D))); // [b, 12, 12]
      const mixed = tf.add(tokens, tf.matMul(att, v));
      const pooled = tf.mean(tf.relu(mixed), 1); // [b, D]
      return tf.softmax(tf.add(tf.matMul(pooled, vars.out), vars.bo));
    };
    return { vars, apply };
  }

  const crossEntropy = (ys: tf.Tensor, p: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(tf.add(p, 1e-7))), 1))) as tf.Scalar;

  it("one SGD step of the conv net gives the same weights as the cpu reference", async () => {
    const data = bars(16);
    const step = async () => {
      const m = cnn();
      const optimizer = tf.train.sgd(0.1);
      m.compile({ optimizer, loss: "categoricalCrossentropy" });
      const xs = tf.tensor4d(data.xs, [16, 12, 12, 1]);
      const ys = tf.tensor2d(data.ys, [16, 2]);
      await m.fit(xs, ys, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      const w = m.getWeights().map((t) => ({ v: t.dataSync() as Float32Array, shape: t.shape }));
      m.dispose();
      optimizer.dispose();
      tf.dispose([xs, ys]);
      return w;
    };
    await tf.setBackend("cpu");
    const want = await step();
    await tf.setBackend("wasm");
    const before = NATIVE_KERNEL_NAMES.map(nativeCount);
    const got = await step();
    const ran = NATIVE_KERNEL_NAMES.filter((k, i) => nativeCount(k) > before[i]!);
    for (const k of [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput, tf.MaxPool, tf.MaxPoolGrad, tf.BatchMatMul]) expect(ran, k).toContain(k);
    expectClose(got, want, "weights after one step", 1e-4);
  });

  it("one SGD step of the attention model gives the same weights as the cpu reference", async () => {
    const data = bars(8);
    const step = async () => {
      const { vars, apply } = attentionModel(99);
      const optimizer = tf.train.sgd(0.5);
      const xs = tf.tensor4d(data.xs, [8, 12, 12, 1]);
      const ys = tf.tensor2d(data.ys, [8, 2]);
      tf.tidy(() => {
        optimizer.minimize(() => crossEntropy(ys, apply(xs)), false, Object.values(vars));
      });
      const w = Object.values(vars).map((t) => ({ v: t.dataSync() as Float32Array, shape: t.shape }));
      optimizer.dispose();
      tf.dispose([xs, ys, ...Object.values(vars)]);
      return w;
    };
    await tf.setBackend("cpu");
    const want = await step();
    await tf.setBackend("wasm");
    const batched = nativeCount(tf.BatchMatMul);
    const got = await step();
    expect(nativeCount(tf.BatchMatMul) - batched).toBeGreaterThanOrEqual(12); // 6 forward products, 2 gradients each
    expectClose(got, want, "weights after one step", 1e-4);
  });

  it("a small conv net trains on the native path: the loss falls", async () => {
    await tf.setBackend("wasm");
    const data = bars(128);
    const xs = tf.tensor4d(data.xs, [128, 12, 12, 1]);
    const ys = tf.tensor2d(data.ys, [128, 2]);
    const m = cnn();
    const optimizer = tf.train.adam(0.01);
    m.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
    const counts = Object.fromEntries(NATIVE_KERNEL_NAMES.map((k) => [k, nativeCount(k)]));
    const fallbacks = NATIVE_KERNEL_NAMES.map(fallbackCount);
    const tensorsBefore = tf.memory().numTensors;
    const h = await m.fit(xs, ys, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]!).toBeLessThan(loss[0]! * 0.5);
    expect(Number(h.history.acc?.at(-1) ?? h.history.accuracy?.at(-1))).toBeGreaterThan(0.9);
    // Forward, input gradient and filter gradient of the convs, pooling and the dense layers ran
    // natively (while recording gradients tfjs unfuses fused ops with a non-linear activation).
    const grew = (...ks: string[]) => ks.reduce((s, k) => s + nativeCount(k) - counts[k]!, 0);
    expect(grew(tf.Conv2D, tf.FusedConv2D), "conv forward").toBeGreaterThan(0);
    expect(grew(tf.Conv2DBackpropFilter), "conv filter gradient").toBeGreaterThan(0);
    expect(grew(tf.Conv2DBackpropInput), "conv input gradient").toBeGreaterThan(0);
    expect(grew(tf.BatchMatMul, tf._FusedMatMul), "dense").toBeGreaterThan(0);
    expect(grew(tf.MaxPool), "pooling").toBeGreaterThan(0);
    expect(grew(tf.MaxPoolGrad), "pooling gradient").toBeGreaterThan(0);
    expect(NATIVE_KERNEL_NAMES.map(fallbackCount), "no fallbacks").toEqual(fallbacks);
    m.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
    // Nothing left behind (tfjs-layers may also drop cached scalars).
    expect(tf.memory().numTensors).toBeLessThanOrEqual(tensorsBefore - 2);
  });

  it("a tiny attention model trains on the native path: the loss falls", async () => {
    await tf.setBackend("wasm");
    const data = bars(64);
    const xs = tf.tensor4d(data.xs, [64, 12, 12, 1]);
    const ys = tf.tensor2d(data.ys, [64, 2]);
    const { vars, apply } = attentionModel(7);
    const optimizer = tf.train.adam(0.02);
    const batched = nativeCount(tf.BatchMatMul);
    const fallbacks = fallbackCount(tf.BatchMatMul);
    const losses: number[] = [];
    for (let epoch = 0; epoch < 30; epoch++) {
      const cost = tf.tidy(() => optimizer.minimize(() => crossEntropy(ys, apply(xs)), true, Object.values(vars)) as tf.Scalar);
      losses.push(cost.dataSync()[0]!);
      cost.dispose();
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.5);
    expect(nativeCount(tf.BatchMatMul) - batched).toBeGreaterThanOrEqual(30 * 12);
    expect(fallbackCount(tf.BatchMatMul)).toBe(fallbacks);
    const acc = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(apply(xs), 1), tf.argMax(ys, 1)), "float32")).dataSync()[0]!);
    expect(acc).toBeGreaterThan(0.9);
    optimizer.dispose();
    tf.dispose([xs, ys, ...Object.values(vars)]);
  });
});
