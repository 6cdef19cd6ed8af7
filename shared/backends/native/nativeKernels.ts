/**
 * Native (OpenBLAS) kernels for TensorFlow.js's pure-JS `cpu` backend.
 *
 * `registerNativeKernels()` loads the N-API addon built from `shared/backends/native/` (see
 * binding.gyp) and replaces, on backend 'cpu', the heavy kernels — BatchMatMul, _FusedMatMul, Conv2D,
 * FusedConv2D, Conv2DBackpropFilter, Conv2DBackpropInput (im2col/col2im + OpenBLAS sgemm) and MaxPool,
 * MaxPoolGrad (plain C loops; tfjs's MaxPoolGrad was the next bottleneck of a CNN's training step).
 * Elementwise ops stay with tfjs. A call the native path does not cover (NCHW, non-float32 dtypes,
 * unusual broadcasts of bias/PReLU weights) runs the stock kernel.
 *
 * OpenBLAS picks its kernels once, when the library is loaded, from OPENBLAS_CORETYPE or from CPUID.
 * On virtual CPUs CPUID often leads it to slower kernels than the CPU supports, so, unless the user set
 * OPENBLAS_CORETYPE, we choose one from /proc/cpuinfo's flags before loading (see chooseCoreType).
 */
import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import { backend_util, broadcast_util, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The functions the addon (src/fedfusion_native.cc) exports. Arrays are used in place, never copied. */
export interface NativeAddon {
  /** C = alpha * op(A) * op(B) + beta * C, row-major, as cblas_sgemm. */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
  /** C[b] = op(A[b % batchA]) * op(B[b % batchB]); batchA and batchB equal or one of them 1. */
  batchMatMul(
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    batchA: number,
    batchB: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /** col (N*OH*OW x KH*KW*C) from x (NHWC). */
  im2col(x: Float32Array, col: Float32Array, geometry: ConvGeometry): void;
  /** dx (NHWC) += col scattered back (the adjoint of im2col). dx is not cleared first. */
  col2im(col: Float32Array, dx: Float32Array, geometry: ConvGeometry): void;
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: ConvGeometry): void;
  /** y = max pooling of x (NHWC), as tfjs-backend-cpu computes it. */
  maxPool(x: Float32Array, y: Float32Array, geometry: PoolGeometry): void;
  /** dx = gradient of maxPool: each dy goes to the first maximum of its window in x. */
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: PoolGeometry): void;
  /** In place on y (rows x cols): y = act(y + bias). Modes: 0 none, 1 scalar, 2 per column, 3 full. */
  biasActivation(
    y: Float32Array,
    rows: number,
    cols: number,
    bias: Float32Array | null,
    biasMode: number,
    activation: number,
    leakyreluAlpha: number,
    prelu: Float32Array | null,
    preluMode: number,
  ): void;
  info(): { config: string; corename: string; numThreads: number; numProcs: number; envCoretype?: string };
  setNumThreads(threads: number): void;
}

/**
 * [N, H, W, C, KH, KW, OC, strideH, strideW, dilationH, dilationW, padTop, padLeft, outH, outW]
 * (NHWC input, filter [KH, KW, C, OC]).
 */
export type ConvGeometry = [
  number, number, number, number, number, number, number, number,
  number, number, number, number, number, number, number,
];

/** [N, H, W, C, KH, KW, strideH, strideW, padTop, padLeft, outH, outW] (NHWC). */
export type PoolGeometry = [number, number, number, number, number, number, number, number, number, number, number, number];

interface EnvAddon {
  setenv(name: string, value: string, overwrite: boolean): boolean;
  unsetenv(name: string): void;
  getenv(name: string): string | undefined;
}

export interface NativeKernelsOptions {
  /** OpenBLAS threads. Default: OPENBLAS_NUM_THREADS if set, else 1 (clients run in parallel processes). */
  threads?: number;
  /**
   * OpenBLAS core type to request when the environment does not set OPENBLAS_CORETYPE: a name such as
   * "Haswell", or null to let OpenBLAS detect. Default: chooseCoreType(/proc/cpuinfo). A core type whose
   * instructions the CPU lacks kills the process with SIGILL at the first sgemm.
   */
  coreType?: string | null;
}

export type RegisterResult = { ok: true; kernels: string[]; blas: string } | { ok: false; reason: string };

/** The kernels this module replaces on backend 'cpu'. */
export const NATIVE_KERNEL_NAMES: readonly string[] = [
  tf.BatchMatMul,
  tf._FusedMatMul,
  tf.Conv2D,
  tf.FusedConv2D,
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.MaxPool,
  tf.MaxPoolGrad,
];

const BACKEND = "cpu";
const ADDON_DIR_ENV = "FEDFUSION_NATIVE_DIR";
const BUILD_HINT =
  "run `node shared/backends/native/build.mjs --strict` (needs g++, make, python3 and libopenblas-dev)";

// ---------------------------------------------------------------------------------------------
// CPU detection

/**
 * The OpenBLAS core type to force for a CPU with these /proc/cpuinfo flags, or undefined to keep
 * OpenBLAS's own detection. Only instruction sets the CPU (and kernel) really report are chosen.
 */
export function chooseCoreType(cpuinfo: string): string | undefined {
  const line = cpuinfo.split("\n").find((l) => /^flags\s*:/.test(l));
  if (line === undefined) return undefined;
  const flags = new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/));
  const has = (...names: string[]) => names.every((n) => flags.has(n));
  if (has("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma")) return "SkylakeX";
  if (has("avx2", "fma")) return "Haswell";
  return undefined;
}

function detectCoreType(): { coreType?: string; why: string } {
  try {
    const coreType = chooseCoreType(readFileSync("/proc/cpuinfo", "utf8"));
    return coreType
      ? { coreType, why: "chosen from /proc/cpuinfo flags" }
      : { why: "no AVX2+FMA in /proc/cpuinfo: OpenBLAS detects" };
  } catch {
    return { why: "no /proc/cpuinfo: OpenBLAS detects" };
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Folders that may hold build/Release/fedfusion_native.node, nearest first. */
function candidateDirs(): string[] {
  const dirs: string[] = [];
  const fromEnv = process.env[ADDON_DIR_ENV];
  if (fromEnv) dirs.push(fromEnv);
  // Source (shared/backends/native/) or compiled (dist/shared/backends/native/): walk up to the package
  // root (the folder with package.json) and look in shared/backends/native/build/Release on the way.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    dirs.push(join(dir, "build", "Release"));
    dirs.push(join(dir, "shared", "backends", "native", "build", "Release"));
    if (existsSync(join(dir, "package.json"))) break;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dirs;
}

interface Loaded {
  addon: NativeAddon;
  blas: string;
}

let loaded: Loaded | undefined;
let loadFailure: string | undefined;

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

function loadAddon(options: NativeKernelsOptions): Loaded | string {
  if (loaded) return loaded;
  if (loadFailure) return loadFailure;
  const dir = candidateDirs().find((d) => existsSync(join(d, "fedfusion_native.node")));
  if (dir === undefined) {
    loadFailure = `native addon not built (no shared/backends/native/build/Release/fedfusion_native.node): ${BUILD_HINT}`;
    return loadFailure;
  }
  const require = createRequire(import.meta.url);
  let envAddon: EnvAddon | undefined;
  try {
    envAddon = require(join(dir, "fedfusion_env.node")) as EnvAddon;
  } catch {
    envAddon = undefined; // then process.env is used; it reaches getenv() on the main thread only
  }
  const getenv = (name: string): string | undefined => envAddon?.getenv(name) ?? process.env[name];
  const setVars: string[] = [];
  const setenv = (name: string, value: string): void => {
    if (envAddon) envAddon.setenv(name, value, true);
    process.env[name] = value;
    setVars.push(name);
  };

  // OpenBLAS reads these when it is loaded, which is when the addon is loaded.
  let coreNote: string;
  const userCore = getenv("OPENBLAS_CORETYPE");
  if (userCore) {
    coreNote = `OPENBLAS_CORETYPE=${userCore} from the environment`;
  } else if (options.coreType === null) {
    coreNote = "detected by OpenBLAS";
  } else {
    const picked = options.coreType !== undefined ? { coreType: options.coreType, why: "requested" } : detectCoreType();
    if (picked.coreType) {
      setenv("OPENBLAS_CORETYPE", picked.coreType);
      coreNote = `OPENBLAS_CORETYPE=${picked.coreType} ${picked.why}`;
    } else {
      coreNote = picked.why;
    }
  }
  const userThreads = getenv("OPENBLAS_NUM_THREADS");
  const threads = options.threads ?? (userThreads ? Number.parseInt(userThreads, 10) || 1 : 1);
  if (!userThreads) setenv("OPENBLAS_NUM_THREADS", String(threads)); // no idle thread pool at load

  let addon: NativeAddon;
  try {
    addon = require(join(dir, "fedfusion_native.node")) as NativeAddon;
  } catch (e) {
    const msg = firstLine(e);
    const hint = /openblas/i.test(msg) ? " (install libopenblas0: apt-get install libopenblas-dev)" : `: ${BUILD_HINT}`;
    loadFailure = `native addon failed to load: ${msg}${hint}`;
    return loadFailure;
  } finally {
    // Leave the environment as the user had it (OpenBLAS has read it by now).
    for (const name of setVars) {
      delete process.env[name];
      envAddon?.unsetenv(name);
    }
  }
  addon.setNumThreads(threads);
  const info = addon.info();
  const err = sgemmSelfCheck(addon);
  if (err !== null) {
    loadFailure =
      `OpenBLAS sgemm gives wrong results with core ${info.corename} (error ${err}): ` +
      `set OPENBLAS_CORETYPE to another core type`;
    return loadFailure;
  }
  const blas =
    `${info.config.trim()}; core ${info.corename} (${coreNote}); ` +
    `${info.numThreads} thread${info.numThreads === 1 ? "" : "s"}`;
  loaded = { addon, blas };
  return loaded;
}

/**
 * Checks OpenBLAS's sgemm, with the kernels it selected, against a double-precision JS product on
 * sizes that are not multiples of any kernel's tile, all four transpose combinations. Some OpenBLAS
 * builds are known to compute wrong results on some processors; this refuses them. Returns the
 * largest error found when it is too large, else null.
 */
function sgemmSelfCheck(addon: NativeAddon): number | null {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  let worst = 0;
  for (const [M, N, K] of [[37, 29, 21], [5, 67, 40], [70, 3, 9]] as const) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const A = Float32Array.from({ length: M * K }, rnd);
      const B = Float32Array.from({ length: K * N }, rnd);
      const C = Float32Array.from({ length: M * N }, rnd);
      const C0 = C.slice();
      addon.sgemm(ta, tb, M, N, K, 1, A, ta ? M : K, B, tb ? K : N, 0.5, C, N);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let sum = 0;
          for (let k = 0; k < K; k++) sum += A[ta ? k * M + i : i * K + k]! * B[tb ? j * K + k : k * N + j]!;
          const d = Math.abs(sum + 0.5 * C0[i * N + j]! - C[i * N + j]!);
          if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
        }
      }
    }
  }
  return worst <= 1e-4 ? null : worst;
}

/** The loaded addon (loading it, with the same environment handling, if needed), or null. */
export function nativeAddon(options: NativeKernelsOptions = {}): NativeAddon | null {
  const r = loadAddon(options);
  return typeof r === "string" ? null : r.addon;
}

// ---------------------------------------------------------------------------------------------
// Kernels

interface CpuBackend {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): TensorInfo;
}

type KernelParams = Parameters<KernelFunc>[0];
/** Returns null when the native path does not cover the call (the stock kernel then runs). */
type NativeImpl = (addon: NativeAddon, params: KernelParams, backend: CpuBackend) => TensorInfo | null;

function f32(backend: CpuBackend, t: TensorInfo | undefined): Float32Array | null {
  if (t === undefined || t.dtype !== "float32") return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

const ACTIVATIONS: Record<string, number> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  elu: 3,
  leakyrelu: 4,
  prelu: 5,
  sigmoid: 6,
};

/**
 * How a tensor of shape `shape` broadcasts onto an output of shape `outShape` viewed as
 * rows x cols (cols = last dim): 1 scalar, 2 per column, 3 same shape; null when not one of those or
 * when broadcasting would change the output's shape.
 */
function broadcastMode(shape: number[], outShape: number[]): number | null {
  if (shape.length > outShape.length) return null;
  const size = util.sizeFromShape(shape);
  if (size === 1) return 1;
  const cols = outShape[outShape.length - 1];
  if (shape[shape.length - 1] === cols && size === cols) return 2;
  if (util.arraysEqual(shape, outShape)) return 3;
  return null;
}

interface Epilogue {
  bias: Float32Array | null;
  biasMode: number;
  act: number;
  alpha: number;
  prelu: Float32Array | null;
  preluMode: number;
}

/** Bias + activation of a fused kernel, or null when the native epilogue does not cover them. */
function epilogue(backend: CpuBackend, inputs: KernelParams["inputs"], attrs: NamedAttrMap, outShape: number[]): Epilogue | null {
  const e: Epilogue = { bias: null, biasMode: 0, act: 0, alpha: 0, prelu: null, preluMode: 0 };
  const bias = inputs.bias;
  if (bias) {
    const mode = broadcastMode(bias.shape, outShape);
    e.bias = f32(backend, bias);
    if (mode === null || e.bias === null) return null;
    e.biasMode = mode;
  }
  const activation = attrs.activation as string | undefined | null;
  if (activation) {
    const code = ACTIVATIONS[activation];
    if (code === undefined) return null;
    e.act = code;
    e.alpha = Number(attrs.leakyreluAlpha ?? 0.2);
    if (activation === "prelu") {
      const w = inputs.preluActivationWeights;
      if (!w) return null;
      const mode = broadcastMode(w.shape, outShape);
      e.prelu = f32(backend, w);
      if (mode === null || e.prelu === null) return null;
      e.preluMode = mode;
    }
  }
  return e;
}

function applyEpilogue(addon: NativeAddon, y: Float32Array, outShape: number[], e: Epilogue): void {
  if (e.biasMode === 0 && e.act === 0) return;
  const cols = outShape[outShape.length - 1] ?? 1;
  const rows = cols === 0 ? 0 : y.length / cols;
  addon.biasActivation(y, rows, cols, e.bias, e.biasMode, e.act, e.alpha, e.prelu, e.preluMode);
}

function matMulCore(
  addon: NativeAddon,
  backend: CpuBackend,
  a: TensorInfo,
  b: TensorInfo,
  attrs: NamedAttrMap,
): { y: Float32Array; outShape: number[] } | null {
  const A = f32(backend, a);
  const B = f32(backend, b);
  if (A === null || B === null || a.shape.length < 2 || b.shape.length < 2) return null;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const innerA = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const innerB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (innerA !== innerB) return null; // the stock kernel throws tfjs's own error
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = util.sizeFromShape(outerA);
  const batchB = util.sizeFromShape(outerB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = Math.max(batchA, batchB);
  if (util.sizeFromShape(outer) !== batch) return null;
  const y = new Float32Array(batch * M * N);
  addon.batchMatMul(A, B, y, batchA, batchB, M, N, innerA, transposeA, transposeB);
  return { y, outShape: [...outer, M, N] };
}

const batchMatMulImpl: NativeImpl = (addon, { inputs, attrs }, backend) => {
  const { a, b } = inputs;
  if (!a || !b) return null;
  const r = matMulCore(addon, backend, a, b, attrs ?? {});
  return r && backend.makeTensorInfo(r.outShape, "float32", r.y);
};

const fusedMatMulImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) => {
  const { a, b } = inputs;
  if (!a || !b) return null;
  // Check the epilogue before computing (its shapes only need the output shape).
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const M = attrs.transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const N = attrs.transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null;
  }
  const e = epilogue(backend, inputs, attrs, [...outer, M, N]);
  if (e === null) return null;
  const r = matMulCore(addon, backend, a, b, attrs);
  if (r === null) return null;
  applyEpilogue(addon, r.y, r.outShape, e);
  return backend.makeTensorInfo(r.outShape, "float32", r.y);
};

type Shape4 = [number, number, number, number];

function geometry(c: backend_util.Conv2DInfo): ConvGeometry | null {
  const { top, left } = c.padInfo;
  if (top < 0 || left < 0 || c.outHeight < 0 || c.outWidth < 0) return null;
  return [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels,
    c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth, top, left, c.outHeight, c.outWidth,
  ];
}

function isNHWC(attrs: NamedAttrMap): boolean {
  return attrs.dataFormat === undefined || attrs.dataFormat === "NHWC";
}

type ConvPad = Parameters<typeof backend_util.computeConv2DInfo>[4];
type Rounding = Parameters<typeof backend_util.computeConv2DInfo>[5];
type Pair = number | [number, number];

function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  dilations: Pair,
): backend_util.Conv2DInfo | null {
  if (inShape.length !== 4 || filterShape.length !== 4) return null;
  const info = backend_util.computeConv2DInfo(
    inShape as Shape4,
    filterShape as Shape4,
    attrs.strides as Pair,
    dilations,
    attrs.pad as ConvPad,
    attrs.dimRoundingMode as Rounding,
    false,
    "channelsLast",
  );
  return info.inChannels === filterShape[2] ? info : null;
}

function convForward(
  addon: NativeAddon,
  backend: CpuBackend,
  inputs: KernelParams["inputs"],
  attrs: NamedAttrMap,
  fused: boolean,
): TensorInfo | null {
  const { x, filter } = inputs;
  if (!x || !filter || !isNHWC(attrs)) return null;
  const X = f32(backend, x);
  const F = f32(backend, filter);
  if (X === null || F === null) return null;
  const c = convInfo(x.shape, filter.shape, attrs, (attrs.dilations ?? 1) as Pair);
  const g = c && geometry(c);
  if (!c || !g) return null;
  const outShape = c.outShape;
  const e = fused ? epilogue(backend, inputs, attrs, outShape) : null;
  if (fused && e === null) return null;
  const y = new Float32Array(util.sizeFromShape(outShape));
  addon.conv2d(X, F, y, g);
  if (e) applyEpilogue(addon, y, outShape, e);
  return backend.makeTensorInfo(outShape, "float32", y);
}

const conv2DImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) =>
  convForward(addon, backend, inputs, attrs, false);

const fusedConv2DImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) =>
  convForward(addon, backend, inputs, attrs, true);

const conv2DBackpropFilterImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) => {
  const { x, dy } = inputs;
  if (!x || !dy || !isNHWC(attrs)) return null;
  const X = f32(backend, x);
  const DY = f32(backend, dy);
  const filterShape = attrs.filterShape as number[] | undefined;
  if (X === null || DY === null || !filterShape) return null;
  const c = convInfo(x.shape, filterShape, attrs, 1);
  const g = c && geometry(c);
  if (!c || !g || !util.arraysEqual(dy.shape, c.outShape)) return null;
  const dw = new Float32Array(util.sizeFromShape(c.filterShape));
  addon.conv2dBackpropFilter(X, DY, dw, g);
  return backend.makeTensorInfo(c.filterShape, "float32", dw);
};

const conv2DBackpropInputImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) => {
  const { dy, filter } = inputs;
  if (!dy || !filter || !isNHWC(attrs)) return null;
  const DY = f32(backend, dy);
  const F = f32(backend, filter);
  const inputShape = attrs.inputShape as number[] | undefined;
  if (DY === null || F === null || !inputShape) return null;
  const c = convInfo(inputShape, filter.shape, attrs, 1);
  const g = c && geometry(c);
  if (!c || !g || !util.arraysEqual(dy.shape, c.outShape)) return null;
  const dx = new Float32Array(util.sizeFromShape(c.inShape));
  addon.conv2dBackpropInput(DY, F, dx, g);
  return backend.makeTensorInfo(c.inShape, "float32", dx);
};

function poolGeometry(x: TensorInfo, attrs: NamedAttrMap): { g: PoolGeometry; outShape: number[] } | null {
  if (x.shape.length !== 4) return null;
  const c = backend_util.computePool2DInfo(
    x.shape as Shape4,
    attrs.filterSize as Pair,
    attrs.strides as Pair,
    1,
    attrs.pad as ConvPad,
    attrs.dimRoundingMode as Rounding,
  );
  const { top, left } = c.padInfo;
  if (top < 0 || left < 0 || c.outHeight < 0 || c.outWidth < 0 || c.dilationHeight !== 1 || c.dilationWidth !== 1) {
    return null;
  }
  const g: PoolGeometry = [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth,
    c.strideHeight, c.strideWidth, top, left, c.outHeight, c.outWidth,
  ];
  return { g, outShape: c.outShape };
}

const maxPoolImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) => {
  const { x } = inputs;
  const X = f32(backend, x);
  if (!x || X === null) return null;
  const p = poolGeometry(x, attrs);
  if (!p) return null;
  const y = new Float32Array(util.sizeFromShape(p.outShape));
  addon.maxPool(X, y, p.g);
  return backend.makeTensorInfo(p.outShape, "float32", y);
};

const maxPoolGradImpl: NativeImpl = (addon, { inputs, attrs = {} }, backend) => {
  const { dy, input } = inputs;
  const X = f32(backend, input);
  const DY = f32(backend, dy);
  if (!dy || !input || X === null || DY === null) return null;
  const p = poolGeometry(input, attrs);
  if (!p || !util.arraysEqual(dy.shape, p.outShape)) return null;
  const dx = new Float32Array(util.sizeFromShape(input.shape));
  addon.maxPoolGrad(X, DY, dx, p.g);
  return backend.makeTensorInfo(input.shape, "float32", dx);
};

const IMPLS: Record<string, NativeImpl> = {
  [tf.BatchMatMul]: batchMatMulImpl,
  [tf._FusedMatMul]: fusedMatMulImpl,
  [tf.Conv2D]: conv2DImpl,
  [tf.FusedConv2D]: fusedConv2DImpl,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilterImpl,
  [tf.Conv2DBackpropInput]: conv2DBackpropInputImpl,
  [tf.MaxPool]: maxPoolImpl,
  [tf.MaxPoolGrad]: maxPoolGradImpl,
};

// ---------------------------------------------------------------------------------------------
// Registration

/** The stock kernel configs replaced by registerNativeKernels(), by kernel name. */
const stock = new Map<string, KernelConfig>();
const counts = new Map<string, { native: number; fallback: number }>();
let registered: { kernels: string[]; blas: string } | undefined;

/**
 * Loads the addon and registers the native kernels on backend 'cpu'. Idempotent. Returns why not
 * (one line) when the addon is missing or cannot load; the stock kernels then stay in place.
 */
export function registerNativeKernels(options: NativeKernelsOptions = {}): RegisterResult {
  if (registered) return { ok: true, kernels: [...registered.kernels], blas: registered.blas };
  const r = loadAddon(options);
  if (typeof r === "string") return { ok: false, reason: r };
  const { addon, blas } = r;
  const kernels: string[] = [];
  for (const name of NATIVE_KERNEL_NAMES) {
    const original = tf.getKernel(name, BACKEND);
    if (!original) continue; // not in this tfjs version: nothing to replace
    const impl = IMPLS[name]!;
    const count = counts.get(name) ?? { native: 0, fallback: 0 };
    counts.set(name, count);
    const kernelFunc: KernelFunc = (params) => {
      const out = impl(addon, params, params.backend as CpuBackend);
      if (out !== null) {
        count.native++;
        return out;
      }
      count.fallback++;
      return original.kernelFunc(params);
    };
    stock.set(name, original);
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({ ...original, kernelFunc });
    kernels.push(name);
  }
  registered = { kernels, blas };
  return { ok: true, kernels: [...kernels], blas };
}

/** Puts the stock cpu kernels back (the addon stays loaded; registering again is cheap). */
export function unregisterNativeKernels(): void {
  for (const [name, original] of stock) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(original);
  }
  stock.clear();
  registered = undefined;
}

/** The stock cpu kernel replaced for `name`, while the native kernels are registered. */
export function stockKernel(name: string): KernelConfig | undefined {
  return stock.get(name);
}

/** How many calls of each replaced kernel ran natively and how many fell back to the stock kernel. */
export function nativeKernelStats(): Record<string, { native: number; fallback: number }> {
  return Object.fromEntries([...counts].map(([name, c]) => [name, { ...c }]));
}
