/**
 * The native (OpenBLAS) cpu kernels against tfjs's stock cpu kernels. Fails (does not skip) when the
 * addon is not built: CI installs libopenblas-dev and builds it during `npm ci`.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import * as tfl from "@tensorflow/tfjs-layers";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  chooseCoreType,
  nativeAddon,
  nativeKernelStats,
  NATIVE_KERNEL_NAMES,
  registerNativeKernels,
  stockKernel,
  unregisterNativeKernels,
  type ConvGeometry,
  type NativeAddon,
} from "../../../../shared/backends/native/nativeKernels.js";

const userCoreType = process.env.OPENBLAS_CORETYPE;
let addon: NativeAddon;

// Deterministic data (no Math.random: failures must reproduce).
let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
function randn(shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, rand), shape);
}

function nativeCount(name: string): number {
  return nativeKernelStats()[name]?.native ?? 0;
}
function fallbackCount(name: string): number {
  return nativeKernelStats()[name]?.fallback ?? 0;
}

/** Runs `fn` with the stock kernels registered instead of the native ones. */
function withStock<T>(fn: () => T): T {
  unregisterNativeKernels();
  try {
    return fn();
  } finally {
    const r = registerNativeKernels();
    if (!r.ok) throw new Error(r.reason);
  }
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  expect(actual.dtype, what).toBe(expected.dtype);
  const a = actual.dataSync();
  const e = expected.dataSync();
  let scale = 1;
  for (const v of e) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i]! - e[i]!);
    if (!(d <= worst)) worst = d; // NaN-safe: a NaN difference becomes the worst
  }
  expect(worst, `${what}: max |native - stock| (scale ${scale})`).toBeLessThanOrEqual(2e-5 * scale);
}

/** Runs the same kernel natively and with the stock kernel; checks the results and that it ran natively. */
function checkKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown>,
  what: string,
  expectNative = true,
): void {
  const run = () => tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
  const before = nativeCount(name);
  const fallbacksBefore = fallbackCount(name);
  const got = run();
  if (expectNative) {
    expect(nativeCount(name), `${what} ran natively`).toBe(before + 1);
  } else {
    expect(fallbackCount(name), `${what} fell back to the stock kernel`).toBe(fallbacksBefore + 1);
  }
  const want = withStock(run);
  expectClose(got, want, `${name} ${what}`);
  got.dispose();
  want.dispose();
}

let unavailable: string | undefined;

beforeAll(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
  const r = registerNativeKernels();
  const a = nativeAddon();
  if (!r.ok) unavailable = r.reason;
  else if (!a) unavailable = "addon not loaded";
  else addon = a;
});

// Every test fails (none is skipped) with the reason when the addon is not built or cannot load.
beforeEach(() => {
  if (unavailable !== undefined) throw new Error(`native kernels unavailable: ${unavailable}`);
});

afterAll(() => {
  unregisterNativeKernels();
});

describe("registration", () => {
  it("replaces the six heavy kernels on backend cpu and keeps the stock ones", () => {
    const r = registerNativeKernels();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.kernels].sort()).toEqual([...NATIVE_KERNEL_NAMES].sort());
    expect(r.blas).toMatch(/OpenBLAS/);
    for (const name of NATIVE_KERNEL_NAMES) {
      const current = tf.getKernel(name, "cpu");
      const original = stockKernel(name);
      expect(original, name).toBeDefined();
      expect(current.kernelFunc, name).not.toBe(original!.kernelFunc);
    }
  });

  it("runs OpenBLAS with one thread and the core type chosen from /proc/cpuinfo", () => {
    const info = addon.info();
    expect(info.numThreads).toBe(1);
    // The variables set for OpenBLAS's load are removed again.
    expect(process.env.OPENBLAS_CORETYPE).toBe(userCoreType);
    if (userCoreType) {
      expect(info.corename.toLowerCase()).toBe(userCoreType.toLowerCase());
      return;
    }
    let cpuinfo = "";
    try {
      cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return;
    }
    const chosen = chooseCoreType(cpuinfo);
    if (chosen) expect(info.corename.toLowerCase()).toBe(chosen.toLowerCase());
  });

  it("chooses core types only from the flags the CPU reports", () => {
    const flags = (f: string) => `processor\t: 0\nflags\t\t: fpu sse sse2 ${f}\n`;
    expect(chooseCoreType(flags("avx avx2 fma avx512f avx512bw avx512vl avx512dq avx512cd"))).toBe("SkylakeX");
    expect(chooseCoreType(flags("avx avx2 fma avx512f"))).toBe("Haswell");
    expect(chooseCoreType(flags("avx avx2 fma"))).toBe("Haswell");
    expect(chooseCoreType(flags("avx avx2"))).toBeUndefined();
    expect(chooseCoreType(flags("avx"))).toBeUndefined();
    expect(chooseCoreType("no flags line")).toBeUndefined();
  });
});

describe("addon", () => {
  it("sgemm computes C = alpha op(A) op(B) + beta C with leading dimensions", () => {
    const M = 7, N = 5, K = 9, lda = 12, ldb = 10, ldc = 6;
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const A = Float32Array.from({ length: (ta ? K : M) * lda }, rand);
      const B = Float32Array.from({ length: (tb ? N : K) * ldb }, rand);
      const C = Float32Array.from({ length: M * ldc }, rand);
      const C0 = C.slice();
      addon.sgemm(ta, tb, M, N, K, 1.5, A, lda, B, ldb, 0.5, C, ldc);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            s += (ta ? A[k * lda + i]! : A[i * lda + k]!) * (tb ? B[j * ldb + k]! : B[k * ldb + j]!);
          }
          expect(C[i * ldc + j]).toBeCloseTo(1.5 * s + 0.5 * C0[i * ldc + j]!, 5);
        }
        for (let j = N; j < ldc; j++) expect(C[i * ldc + j]).toBe(C0[i * ldc + j]); // padding untouched
      }
    }
  });

  it("rejects arrays too small for the sizes given instead of overrunning them", () => {
    const small = new Float32Array(10);
    const big = new Float32Array(100);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, small, 4, big, 4, 0, big, 4)).toThrow(RangeError);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, big, 3, big, 4, 0, big, 4)).toThrow(RangeError);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, big, 4, big, 4, 0, big.subarray(95), 4)).toThrow(RangeError);
    const g: ConvGeometry = [1, 5, 5, 2, 3, 3, 4, 1, 1, 1, 1, 1, 1, 5, 5];
    expect(() => addon.conv2d(new Float32Array(49), new Float32Array(72), new Float32Array(100), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(71), new Float32Array(100), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(99), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(100), g)).not.toThrow();
    expect(() => addon.sgemm(false, false, 2, 2, 2, 1, new Float64Array(4) as never, 2, big, 2, 0, big, 2)).toThrow(TypeError);
  });

  it("col2im is the adjoint of im2col (with strides, dilations and padding)", () => {
    const g: ConvGeometry = [2, 7, 6, 3, 3, 2, 4, 2, 1, 1, 2, 1, 1, 4, 4];
    const [N, H, W, C, KH, KW] = g;
    const rows = N * g[13] * g[14];
    const x = Float32Array.from({ length: N * H * W * C }, rand);
    const c = Float32Array.from({ length: rows * KH * KW * C }, rand);
    const col = new Float32Array(c.length);
    addon.im2col(x, col, g);
    const dx = new Float32Array(x.length);
    addon.col2im(c, dx, g);
    let lhs = 0;
    let rhs = 0;
    for (let i = 0; i < col.length; i++) lhs += col[i]! * c[i]!;
    for (let i = 0; i < x.length; i++) rhs += x[i]! * dx[i]!;
    expect(lhs).toBeCloseTo(rhs, 4);
    // And im2col matches a direct gather on one entry: image 1, output (1, 2), kh 1, kw 1, channel 2.
    const r = 1 * 16 + 1 * 4 + 2;
    const ih = 1 * 2 - 1 + 1, iw = 2 * 1 - 1 + 1 * 2;
    expect(col[r * KH * KW * C + (1 * KW + 1) * C + 2]).toBe(x[((1 * H + ih) * W + iw) * C + 2]);
  });
});

describe("BatchMatMul", () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[37, 53], [53, 29], false, false],
    [[53, 37], [53, 29], true, false],
    [[37, 53], [29, 53], false, true],
    [[53, 37], [29, 53], true, true],
    [[4, 17, 23], [4, 23, 9], false, false], // batched
    [[1, 17, 23], [5, 23, 9], false, false], // a broadcast
    [[5, 17, 23], [1, 23, 9], false, false], // b broadcast: one stacked sgemm
    [[5, 17, 23], [23, 9], false, false], // rank 3 x rank 2
    [[5, 23, 17], [1, 9, 23], true, true], // b broadcast with transposes
    [[2, 3, 8, 6], [2, 3, 6, 4], false, false], // rank 4
    [[1, 1], [1, 1], false, false],
    [[3, 0], [0, 4], false, false], // K = 0
    [[0, 5], [5, 4], false, false], // M = 0
  ];
  for (const [sa, sb, ta, tb] of cases) {
    it(`[${sa}] x [${sb}] transposeA=${ta} transposeB=${tb}`, () => {
      const a = randn(sa);
      const b = randn(sb);
      checkKernel(tf.BatchMatMul, { a, b }, { transposeA: ta, transposeB: tb }, `[${sa}]x[${sb}]`);
      a.dispose();
      b.dispose();
    });
  }

  it("falls back to the stock kernel for int32", () => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2], "int32");
    const b = tf.tensor2d([5, 6, 7, 8], [2, 2], "int32");
    const before = fallbackCount(tf.BatchMatMul);
    const c = tf.matMul(a, b);
    expect(fallbackCount(tf.BatchMatMul)).toBe(before + 1);
    expect(c.dtype).toBe("int32");
    expect(Array.from(c.dataSync())).toEqual([19, 22, 43, 50]);
    tf.dispose([a, b, c]);
  });
});

describe("_FusedMatMul", () => {
  const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "prelu", "sigmoid"] as const;
  for (const activation of activations) {
    for (const [ta, tb] of [[false, false], [true, true]] as const) {
      it(`bias [N] + ${activation}, transposeA=${ta} transposeB=${tb}`, () => {
        const M = 19, K = 31, N = 13;
        const a = tf.mul(randn(ta ? [K, M] : [M, K]), 3);
        const b = randn(tb ? [N, K] : [K, N]);
        const bias = randn([N]);
        const alpha = randn([N]);
        const inputs: Record<string, tf.Tensor> = { a, b, bias };
        if (activation === "prelu") inputs.preluActivationWeights = alpha;
        checkKernel(
          tf._FusedMatMul,
          inputs,
          { transposeA: ta, transposeB: tb, activation, leakyreluAlpha: 0.13 },
          `${activation}`,
        );
        tf.dispose([a, b, bias, alpha]);
      });
    }
  }

  it("scalar bias, full-shape bias, prelu with scalar weights, no bias, batched", () => {
    const a = randn([3, 7, 11]);
    const b = randn([3, 11, 6]);
    const full = randn([3, 7, 6]);
    const scalar = tf.scalar(0.7);
    const w = tf.scalar(0.3);
    checkKernel(tf._FusedMatMul, { a, b, bias: scalar }, { transposeA: false, transposeB: false, activation: "relu" }, "scalar bias");
    checkKernel(tf._FusedMatMul, { a, b, bias: full }, { transposeA: false, transposeB: false, activation: "linear" }, "full bias");
    checkKernel(
      tf._FusedMatMul,
      { a, b, preluActivationWeights: w },
      { transposeA: false, transposeB: false, activation: "prelu" },
      "prelu scalar, no bias",
    );
    checkKernel(tf._FusedMatMul, { a, b }, { transposeA: false, transposeB: false }, "no bias, no activation");
    tf.dispose([a, b, full, scalar, w]);
  });

  it("falls back for a bias that broadcasts along rows", () => {
    const a = randn([7, 11]);
    const b = randn([11, 6]);
    const bias = randn([7, 1]);
    checkKernel(tf._FusedMatMul, { a, b, bias }, { transposeA: false, transposeB: false, activation: "relu" }, "[M,1] bias", false);
    tf.dispose([a, b, bias]);
  });

  it("tf.fused.matMul goes through the native kernel", () => {
    const a = randn([9, 4]);
    const b = randn([4, 3]);
    const bias = randn([3]);
    const before = nativeCount(tf._FusedMatMul);
    const got = tf.fused.matMul({ a, b, bias, activation: "relu" });
    expect(nativeCount(tf._FusedMatMul)).toBe(before + 1);
    const want = tf.relu(tf.add(withStock(() => tf.matMul(a, b)), bias));
    expectClose(got, want, "fused.matMul");
    tf.dispose([a, b, bias, got, want]);
  });
});

interface ConvCase {
  x: number[];
  f: number[];
  strides: number | [number, number];
  pad: "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];
  dilations?: number | [number, number];
  dimRoundingMode?: "floor" | "round" | "ceil";
}

const convCases: ConvCase[] = [
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 1, pad: "same" },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 1, pad: "valid" },
  { x: [2, 9, 11, 3], f: [3, 3, 3, 5], strides: 2, pad: "same" },
  { x: [2, 10, 11, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: "valid" },
  { x: [1, 8, 8, 2], f: [5, 5, 2, 3], strides: 1, pad: "same" },
  { x: [3, 6, 7, 4], f: [1, 1, 4, 6], strides: 1, pad: "valid" }, // pointwise: no im2col
  { x: [3, 6, 7, 4], f: [1, 1, 4, 6], strides: 2, pad: "same" },
  { x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 10, 10, 2], f: [3, 3, 2, 3], strides: 2, pad: 1, dimRoundingMode: "ceil" },
  { x: [2, 28, 28, 1], f: [3, 3, 1, 8], strides: 1, pad: "valid" },
  { x: [8, 64, 64, 16], f: [3, 3, 16, 4], strides: 1, pad: "same" }, // 32768 rows x 144 > 2^22: im2col in 2 chunks
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
  return {
    strides: c.strides,
    pad: c.pad,
    dataFormat: "NHWC",
    dilations: c.dilations ?? 1,
    dimRoundingMode: c.dimRoundingMode,
  };
}

describe("Conv2D", () => {
  for (const c of [...convCases, ...dilatedCases]) {
    it(label(c), () => {
      const x = randn(c.x);
      const filter = randn(c.f);
      // The public op (it turns explicit paddings into tfjs's own form) and the kernel itself.
      const run = () => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad, "NHWC", c.dilations ?? 1, c.dimRoundingMode);
      const before = nativeCount(tf.Conv2D);
      const got = run();
      expect(nativeCount(tf.Conv2D)).toBe(before + 1);
      const want = withStock(run);
      expectClose(got, want, label(c));
      tf.dispose([x, filter, got, want]);
    });
  }

  it("falls back to the stock kernel for NCHW", () => {
    const x = randn([2, 3, 8, 9]);
    const filter = randn([3, 3, 3, 4]);
    checkKernel(tf.Conv2D, { x, filter }, { strides: 1, pad: "same", dataFormat: "NCHW", dilations: 1 }, "NCHW", false);
    tf.dispose([x, filter]);
  });
});

describe("FusedConv2D", () => {
  const activations = ["linear", "relu", "relu6", "elu", "leakyrelu", "prelu", "sigmoid"] as const;
  for (const activation of activations) {
    it(`bias [OC] + ${activation}`, () => {
      const x = tf.mul(randn([2, 9, 10, 3]), 2);
      const filter = randn([3, 3, 3, 6]);
      const bias = randn([6]);
      const w = randn([6]);
      const inputs: Record<string, tf.Tensor> = { x, filter, bias };
      if (activation === "prelu") inputs.preluActivationWeights = w;
      checkKernel(
        tf.FusedConv2D,
        inputs,
        { strides: 2, pad: "same", dataFormat: "NHWC", dilations: 1, activation, leakyreluAlpha: 0.07 },
        activation,
      );
      tf.dispose([x, filter, bias, w]);
    });
  }

  it("tf.fused.conv2d with scalar bias, no bias, valid padding and dilations", () => {
    const x = randn([2, 12, 11, 4]);
    const filter = randn([3, 3, 4, 5]);
    const bias = tf.scalar(-0.2);
    const before = nativeCount(tf.FusedConv2D);
    const run = () => [
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: "valid", bias, activation: "relu" }),
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: "same", dilations: 2, activation: "elu" }),
    ];
    const got = run();
    expect(nativeCount(tf.FusedConv2D)).toBe(before + 2);
    const want = withStock(run);
    got.forEach((g, i) => expectClose(g, want[i]!, `fused.conv2d #${i}`));
    tf.dispose([x, filter, bias, ...got, ...want]);
  });
});

describe("Conv2DBackpropFilter and Conv2DBackpropInput", () => {
  for (const c of convCases) {
    it(label(c), () => {
      const x = randn(c.x);
      const filter = randn(c.f);
      const y = tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad, "NHWC", 1, c.dimRoundingMode);
      const dy = randn(y.shape);
      const attrs = { ...convAttrs(c), filterShape: c.f, inputShape: c.x };
      checkKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs, label(c));
      checkKernel(tf.Conv2DBackpropInput, { dy, filter }, attrs, label(c));
      tf.dispose([x, filter, y, dy]);
    });
  }

  it("gradients through tf.grads use both kernels and match the stock gradients", () => {
    const x = randn([3, 10, 9, 4]);
    const filter = randn([3, 3, 4, 5]);
    const r = randn([3, 5, 5, 5]);
    const f = (xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, "same"), r));
    const gradFn = tf.grads(f);
    const bf = nativeCount(tf.Conv2DBackpropFilter);
    const bi = nativeCount(tf.Conv2DBackpropInput);
    const got = gradFn([x, filter]);
    expect(nativeCount(tf.Conv2DBackpropFilter)).toBe(bf + 1);
    expect(nativeCount(tf.Conv2DBackpropInput)).toBe(bi + 1);
    const want = withStock(() => gradFn([x, filter]));
    expectClose(got[0]!, want[0]!, "dx");
    expectClose(got[1]!, want[1]!, "dfilter");
    tf.dispose([x, filter, r, ...got, ...want]);
  });

  it("falls back to the stock kernel for NCHW", () => {
    const x = randn([2, 3, 8, 9]);
    const dy = randn([2, 4, 8, 9]);
    const filter = randn([3, 3, 3, 4]);
    const attrs = { strides: 1, pad: "same", dataFormat: "NCHW", filterShape: [3, 3, 3, 4], inputShape: [2, 3, 8, 9] };
    checkKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs, "NCHW", false);
    checkKernel(tf.Conv2DBackpropInput, { dy, filter }, attrs, "NCHW", false);
    tf.dispose([x, dy, filter]);
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
  }
  const cases: PoolCase[] = [
    { x: [2, 10, 10, 3], filterSize: 2, strides: 2, pad: "valid" },
    { x: [2, 9, 11, 4], filterSize: 3, strides: 2, pad: "same" },
    { x: [2, 9, 11, 4], filterSize: 3, strides: 1, pad: "same" }, // overlapping windows: gradients add up
    { x: [1, 8, 9, 2], filterSize: [2, 3], strides: [1, 2], pad: "valid" },
    { x: [2, 10, 10, 2], filterSize: 3, strides: 2, pad: 1, dimRoundingMode: "ceil" },
    { x: [2, 8, 8, 3], filterSize: 3, strides: 1, pad: "same", ties: true }, // ties: the first maximum wins
    { x: [32, 26, 26, 32], filterSize: 2, strides: 2, pad: "valid" }, // the CNN's first pooling layer
  ];
  for (const c of cases) {
    const name = `x[${c.x}] filter=${JSON.stringify(c.filterSize)} s=${JSON.stringify(c.strides)} pad=${c.pad}` +
      (c.dimRoundingMode ? ` ${c.dimRoundingMode}` : "") + (c.ties ? " with ties" : "");
    it(name, () => {
      const x = c.ties ? tf.round(tf.mul(randn(c.x), 3)) : randn(c.x);
      const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad, dimRoundingMode: c.dimRoundingMode };
      checkKernel(tf.MaxPool, { x }, attrs, name);
      const y = tf.engine().runKernel(tf.MaxPool, { x }, attrs as tf.NamedAttrMap) as tf.Tensor;
      const dy = randn(y.shape);
      checkKernel(tf.MaxPoolGrad, { dy, input: x, output: y }, attrs, name);
      tf.dispose([x, y, dy]);
    });
  }

  it("gradients through tf.maxPool use both kernels", () => {
    const x = randn([3, 8, 8, 5]);
    const f = (xx: tf.Tensor) => tf.sum(tf.square(tf.maxPool(xx as tf.Tensor4D, 2, 2, "valid")));
    const before = nativeCount(tf.MaxPoolGrad);
    const got = tf.grad(f)(x);
    expect(nativeCount(tf.MaxPoolGrad)).toBe(before + 1);
    const want = withStock(() => tf.grad(f)(x));
    expectClose(got, want, "d maxPool");
    tf.dispose([x, got, want]);
  });
});

describe("memory", () => {
  it("leaks no tensors or bytes over repeated forward and backward passes", () => {
    const x = randn([4, 12, 12, 3]);
    const w = tf.variable(randn([3, 3, 3, 8]));
    const d = tf.variable(randn([8 * 6 * 6, 5]));
    const bias = randn([8]);
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const h = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 2, pad: "same", bias, activation: "relu" });
          const out = tf.fused.matMul({ a: tf.reshape(h, [4, -1]) as tf.Tensor2D, b: d as tf.Tensor2D, activation: "sigmoid" });
          return tf.mean(tf.square(out));
        });
        return grads;
      });
    tf.dispose(Object.values(step())); // warm up
    const before = tf.memory();
    for (let i = 0; i < 20; i++) tf.dispose(Object.values(step()));
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    tf.dispose([x, w, d, bias]);
  });
});

describe("training", () => {
  /** 12x12 images of a horizontal (class 0) or vertical (class 1) bar at random positions, plus noise. */
  function bars(n: number): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
    const img = new Float32Array(n * 144);
    const lab = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const cls = i % 2;
      const pos = 1 + Math.floor((rand() + 0.5) * 10);
      for (let p = 0; p < 144; p++) img[i * 144 + p] = 0.1 * rand();
      for (let t = 0; t < 12; t++) img[i * 144 + (cls === 0 ? pos * 12 + t : t * 12 + pos)] += 1;
      lab[i * 2 + cls] = 1;
    }
    return { xs: tf.tensor4d(img, [n, 12, 12, 1]), ys: tf.tensor2d(lab, [n, 2]) };
  }

  function cnn(): tfl.Sequential {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [12, 12, 1], filters: 8, kernelSize: 3, activation: "relu", padding: "same", kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 16, activation: "relu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
    m.add(tfl.layers.dense({ units: 2, activation: "softmax", kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }));
    return m;
  }

  it("one SGD step gives the same weights as with the stock kernels", async () => {
    const { xs, ys } = bars(16);
    const step = async () => {
      const m = cnn();
      const optimizer = tf.train.sgd(0.1);
      m.compile({ optimizer, loss: "categoricalCrossentropy" });
      await m.fit(xs, ys, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      const w = m.getWeights().map((t) => t.clone());
      m.dispose();
      optimizer.dispose();
      return w;
    };
    const before = nativeCount(tf.Conv2DBackpropFilter);
    const got = await step();
    expect(nativeCount(tf.Conv2DBackpropFilter)).toBeGreaterThan(before);
    unregisterNativeKernels();
    let want: tf.Tensor[];
    try {
      want = await step();
    } finally {
      registerNativeKernels();
    }
    expect(got.length).toBe(want.length);
    got.forEach((g, i) => expectClose(g, want[i]!, `weight ${i}`));
    tf.dispose([xs, ys, ...got, ...want]);
  });

  it("a small conv net trains with the native kernels: the loss falls", async () => {
    const { xs, ys } = bars(128);
    const m = cnn();
    const optimizer = tf.train.adam(0.01);
    m.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
    const counts = Object.fromEntries(NATIVE_KERNEL_NAMES.map((k) => [k, nativeCount(k)]));
    const tensorsBefore = tf.memory().numTensors;
    const h = await m.fit(xs, ys, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]!).toBeLessThan(loss[0]! * 0.5);
    expect(Number(h.history.acc?.at(-1) ?? h.history.accuracy?.at(-1))).toBeGreaterThan(0.9);
    // Forward, input gradient and filter gradient of the convs, and the dense layers, ran natively
    // (while recording gradients tfjs unfuses fused ops with a non-linear activation).
    const grew = (...ks: string[]) => ks.reduce((s, k) => s + nativeCount(k) - counts[k]!, 0);
    expect(grew(tf.Conv2D, tf.FusedConv2D), "conv forward").toBeGreaterThan(0);
    expect(grew(tf.Conv2DBackpropFilter), "conv filter gradient").toBeGreaterThan(0);
    expect(grew(tf.Conv2DBackpropInput), "conv input gradient").toBeGreaterThan(0);
    expect(grew(tf.BatchMatMul, tf._FusedMatMul), "dense").toBeGreaterThan(0);
    expect(grew(tf.MaxPool), "pooling").toBeGreaterThan(0);
    expect(grew(tf.MaxPoolGrad), "pooling gradient").toBeGreaterThan(0);
    m.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
    // Nothing left behind (xs and ys existed before; tfjs-layers may also drop cached scalars).
    expect(tf.memory().numTensors).toBeLessThanOrEqual(tensorsBefore - 2);

  });
});
