/**
 * Native (OpenBLAS) kernels for TensorFlow.js's `wasm` backend.
 *
 * The wasm backend runs elementwise ops, reductions and the optimizers' updates fast (SIMD C++), but its
 * matMul (~2 GFLOP/s) and conv2d (~0.6 GFLOP/s) are far below OpenBLAS's sgemm on the same core
 * (50-90 GFLOP/s). `registerNativeKernels()` therefore applies the project's wasm training kernels
 * (wasmTrainingKernels.ts) and then replaces, on backend 'wasm', the heavy kernels — BatchMatMul,
 * _FusedMatMul, Conv2D, FusedConv2D, Conv2DBackpropFilter, Conv2DBackpropInput (im2col/col2im + sgemm),
 * MaxPool and MaxPoolGrad (C loops, measured faster than wasm's; see NATIVE_KERNELS) — with calls
 * into the N-API addon (nativeAddon.ts) that work directly on the wasm backend's heap: tensor data lives
 * in its WebAssembly.Memory at `dataIdMap.get(dataId).memoryOffset`, and the addon reads and writes any
 * Float32Array's memory in place, so no data is copied.
 *
 * Wasm memory can grow during any allocation on its heap, which detaches every ArrayBuffer view taken
 * before. Each kernel here therefore allocates its output first (`backend.makeOutput`) and only then
 * takes the views of inputs and output, and uses them before anything else can allocate. (Were that
 * broken, a view of the detached buffer could not be made (TypeError), and one made earlier has length 0,
 * which the addon rejects with a RangeError: an error, never a write into freed memory.)
 *
 * A call the native path does not cover (NCHW, non-float32 dtypes, batch or bias broadcasts other than
 * the simple ones, unknown activations) runs the kernel that was registered before (the stock wasm or
 * project kernel), saved with tf.getKernel before it was unregistered.
 */
import "@tensorflow/tfjs-backend-wasm";
import * as tf from "@tensorflow/tfjs-core";
import { backend_util, broadcast_util, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { markWasmReplacement, registerWasmTrainingKernels } from "../wasmTrainingKernels.js";
import { encoderKernels } from "../encoderKernels.js";
import { executeOnHeap, type View } from "../wasmHeap.js";
import { attentionKernels } from "./attentionKernels.js";
import { convPoolKernels } from "./convPoolKernels.js";
import { setRegisteredAddon } from "./activeAddon.js";
import { ADAM_KERNEL, adamKernel } from "../adamKernel.js";
import {
  loadNativeAddon,
  type ConvGeometry,
  type NativeAddon,
  type NativeAddonOptions,
  type PoolGeometry,
} from "./nativeAddon.js";

export type RegisterResult = { ok: true; kernels: string[]; blas: string } | { ok: false; reason: string };

const BACKEND = "wasm";

/** Kernel name -> what replaces it on wasm. */
export const NATIVE_KERNELS: Readonly<Record<string, string>> = {
  [tf.BatchMatMul]: "cblas_sgemm, batched (one stacked sgemm when b is not batched)",
  [tf._FusedMatMul]: "cblas_sgemm + bias/activation epilogue in C",
  [tf.Conv2D]: "im2col + sgemm (1x1 stride-1 convs skip im2col)",
  [tf.FusedConv2D]: "im2col + sgemm + bias/activation epilogue in C",
  [tf.Conv2DBackpropFilter]: "im2col + sgemm (colᵀ·dy)",
  [tf.Conv2DBackpropInput]: "sgemm (dy·Wᵀ) + col2im",
  // Measured on [32,26,26,32] .. [32,11,11,64] inputs, 2x2 windows: the C loops take 0.6-0.7x the time
  // of XNNPACK's MaxPool and 0.5-0.6x that of the project's MaxPoolGrad (~20 wasm kernel calls).
  [tf.MaxPool]: "C loop (NaN never wins a window, as on cpu)",
  [tf.MaxPoolGrad]: "C loop (the first maximum of a window gets the gradient, as on cpu)",
  // wasm calls libm's tanh per value: 5-8 ms for the [1600,128] GELU input of a fusion-s encoder block.
  [tf.Tanh]: "rational approximation in a vectorised C loop",
  // wasm transposes before reducing any axis but the last: bias gradients (sums over the batch) paid that.
  [tf.Sum]: "C loop over rows or columns (sums over leading or trailing axes; others fall back)",
  // The attention's head split/merge ([32,50,4,16] <-> [32,4,50,16]): ~0.1 ms each on wasm, 16 per step.
  [tf.Transpose]: "C copy of contiguous runs (the axes that keep their place at the end), float32",
};

/** The kernels {@link registerNativeKernels} replaces on backend 'wasm'. */
export const NATIVE_KERNEL_NAMES: readonly string[] = Object.keys(NATIVE_KERNELS);

/**
 * A native call, decided before anything is allocated: the output's shape and how to fill it, given
 * views of the heap taken after the output exists.
 */
interface Plan {
  outShape: number[];
  run(addon: NativeAddon, out: Float32Array, view: View): void;
}

type KernelParams = Parameters<KernelFunc>[0];
type Inputs = KernelParams["inputs"];
/** Returns null when the native path does not cover the call (the previous kernel then runs). */
type Planner = (inputs: Inputs, attrs: NamedAttrMap) => Plan | null;

function execute(addon: NativeAddon, backend: unknown, plan: Plan): TensorInfo {
  return executeOnHeap(backend, [plan.outShape], ([out], view) => plan.run(addon, out, view))[0];
}

function allFloat32(...ts: (TensorInfo | undefined)[]): boolean {
  return ts.every((t) => t !== undefined && t.dtype === "float32");
}

// ---------------------------------------------------------------------------------------------
// Bias + activation of the fused kernels

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
  bias?: TensorInfo;
  biasMode: number;
  act: number;
  alpha: number;
  prelu?: TensorInfo;
  preluMode: number;
}

/** Bias + activation of a fused kernel, or null when the native epilogue does not cover them. */
function planEpilogue(inputs: Inputs, attrs: NamedAttrMap, outShape: number[]): Epilogue | null {
  const e: Epilogue = { biasMode: 0, act: 0, alpha: 0, preluMode: 0 };
  const bias = inputs.bias;
  if (bias) {
    const mode = broadcastMode(bias.shape, outShape);
    if (mode === null || !allFloat32(bias)) return null;
    e.bias = bias;
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
      if (mode === null || !allFloat32(w)) return null;
      e.prelu = w;
      e.preluMode = mode;
    }
  }
  return e;
}

function applyEpilogue(addon: NativeAddon, y: Float32Array, outShape: number[], e: Epilogue, view: View): void {
  if (e.biasMode === 0 && e.act === 0) return;
  const cols = outShape[outShape.length - 1] ?? 1;
  const rows = cols === 0 ? 0 : y.length / cols;
  const bias = e.bias ? view(e.bias) : null;
  const prelu = e.prelu ? view(e.prelu) : null;
  addon.biasActivation(y, rows, cols, bias, e.biasMode, e.act, e.alpha, prelu, e.preluMode);
}

// ---------------------------------------------------------------------------------------------
// Matrix products

interface MatMulShape {
  outShape: number[];
  batchA: number;
  batchB: number;
  M: number;
  N: number;
  K: number;
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * The product's geometry when the addon covers it: float32, rank >= 2, matching inner dimensions, and
 * batches that are equal or 1 (after flattening the outer dimensions) with the broadcast outer shape
 * having that many entries.
 */
function matMulShape(a: TensorInfo | undefined, b: TensorInfo | undefined, attrs: NamedAttrMap): MatMulShape | null {
  if (!a || !b || !allFloat32(a, b) || a.shape.length < 2 || b.shape.length < 2) return null;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const K = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const innerB = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const M = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (K !== innerB) return null; // the previous kernel throws tfjs's own error
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
  if (util.sizeFromShape(outer) !== Math.max(batchA, batchB)) return null;
  return { outShape: [...outer, M, N], batchA, batchB, M, N, K, transposeA, transposeB };
}

function runMatMul(addon: NativeAddon, s: MatMulShape, a: Float32Array, b: Float32Array, out: Float32Array): void {
  addon.batchMatMul(a, b, out, s.batchA, s.batchB, s.M, s.N, s.K, s.transposeA, s.transposeB);
}

const batchMatMulPlan: Planner = ({ a, b }, attrs) => {
  const s = matMulShape(a, b, attrs);
  if (s === null) return null;
  return { outShape: s.outShape, run: (addon, out, view) => runMatMul(addon, s, view(a!), view(b!), out) };
};

const fusedMatMulPlan: Planner = (inputs, attrs) => {
  const { a, b } = inputs;
  const s = matMulShape(a, b, attrs);
  const e = s && planEpilogue(inputs, attrs, s.outShape);
  if (!s || !e) return null;
  return {
    outShape: s.outShape,
    run: (addon, out, view) => {
      runMatMul(addon, s, view(a!), view(b!), out);
      applyEpilogue(addon, out, s.outShape, e, view);
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Convolutions

type Shape4 = [number, number, number, number];
type ConvPad = Parameters<typeof backend_util.computeConv2DInfo>[4];
type Rounding = Parameters<typeof backend_util.computeConv2DInfo>[5];
type Pair = number | [number, number];

function isNHWC(attrs: NamedAttrMap): boolean {
  return attrs.dataFormat === undefined || attrs.dataFormat === "NHWC";
}

/** tfjs's conv geometry as the addon's, or null when the addon does not cover it. */
function convGeometry(
  inShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  dilations: Pair,
): { info: backend_util.Conv2DInfo; g: ConvGeometry } | null {
  if (inShape.length !== 4 || filterShape.length !== 4 || !isNHWC(attrs)) return null;
  const c = backend_util.computeConv2DInfo(
    inShape as Shape4,
    filterShape as Shape4,
    attrs.strides as Pair,
    dilations,
    attrs.pad as ConvPad,
    attrs.dimRoundingMode as Rounding,
    false,
    "channelsLast",
  );
  const { top, left } = c.padInfo;
  if (c.inChannels !== filterShape[2] || top < 0 || left < 0 || c.outHeight < 0 || c.outWidth < 0) return null;
  const g: ConvGeometry = [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels,
    c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth, top, left, c.outHeight, c.outWidth,
  ];
  return { info: c, g };
}

function convForwardPlan(inputs: Inputs, attrs: NamedAttrMap, fused: boolean): Plan | null {
  const { x, filter } = inputs;
  if (!x || !filter || !allFloat32(x, filter)) return null;
  const conv = convGeometry(x.shape, filter.shape, attrs, (attrs.dilations ?? 1) as Pair);
  if (!conv) return null;
  const outShape = conv.info.outShape;
  const e = fused ? planEpilogue(inputs, attrs, outShape) : null;
  if (fused && e === null) return null;
  return {
    outShape,
    run: (addon, out, view) => {
      addon.conv2d(view(x), view(filter), out, conv.g);
      if (e) applyEpilogue(addon, out, outShape, e, view);
    },
  };
}

const conv2DPlan: Planner = (inputs, attrs) => convForwardPlan(inputs, attrs, false);
const fusedConv2DPlan: Planner = (inputs, attrs) => convForwardPlan(inputs, attrs, true);

const conv2DBackpropFilterPlan: Planner = ({ x, dy }, attrs) => {
  const filterShape = attrs.filterShape as number[] | undefined;
  if (!x || !dy || !filterShape || !allFloat32(x, dy)) return null;
  const conv = convGeometry(x.shape, filterShape, attrs, 1);
  if (!conv || !util.arraysEqual(dy.shape, conv.info.outShape)) return null;
  return {
    outShape: conv.info.filterShape,
    run: (addon, out, view) => addon.conv2dBackpropFilter(view(x), view(dy), out, conv.g),
  };
};

const conv2DBackpropInputPlan: Planner = ({ dy, filter }, attrs) => {
  const inputShape = attrs.inputShape as number[] | undefined;
  if (!dy || !filter || !inputShape || !allFloat32(dy, filter)) return null;
  const conv = convGeometry(inputShape, filter.shape, attrs, 1);
  if (!conv || !util.arraysEqual(dy.shape, conv.info.outShape)) return null;
  return {
    outShape: conv.info.inShape,
    run: (addon, out, view) => addon.conv2dBackpropInput(view(dy), view(filter), out, conv.g),
  };
};

// ---------------------------------------------------------------------------------------------
// Max pooling

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

const maxPoolPlan: Planner = ({ x }, attrs) => {
  if (!x || !allFloat32(x)) return null;
  const p = poolGeometry(x, attrs);
  if (!p) return null;
  return { outShape: p.outShape, run: (addon, out, view) => addon.maxPool(view(x), out, p.g) };
};

const maxPoolGradPlan: Planner = ({ dy, input }, attrs) => {
  if (!dy || !input || !allFloat32(dy, input)) return null;
  const p = poolGeometry(input, attrs);
  if (!p || !util.arraysEqual(dy.shape, p.outShape)) return null;
  return { outShape: input.shape, run: (addon, out, view) => addon.maxPoolGrad(view(input), view(dy), out, p.g) };
};

// ---------------------------------------------------------------------------------------------
// Elementwise and reductions

const tanhPlan: Planner = ({ x }) => {
  if (!x || !allFloat32(x)) return null;
  return { outShape: [...x.shape], run: (addon, out, view) => addon.tanh(view(x), out) };
};

/** Float32 transposes of rank ≤ 6 whose last axis stays last (otherwise one value per step: wasm's own). */
const transposePlan: Planner = ({ x }, attrs) => {
  if (!x || !allFloat32(x)) return null;
  const perm = attrs.perm as number[];
  const r = x.shape.length;
  if (r === 0 || r > 6 || perm.length !== r || perm[r - 1] !== r - 1) return null;
  return { outShape: perm.map((p) => x.shape[p]), run: (addon, out, view) => addon.transpose(view(x), out, [...x.shape], [...perm]) };
};

/** Sums over leading axes (column sums) or trailing axes (row sums) of the row-major data. */
const sumPlan: Planner = ({ x }, attrs) => {
  if (!x || !allFloat32(x)) return null;
  const size = util.sizeFromShape(x.shape);
  const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
  if (size === 0 || axes.length === 0) return null;
  const r = x.shape.length;
  const leading = axes.every((a, i) => a === i);
  if (!leading && !axes.every((a, i) => a === r - axes.length + i)) return null;
  const reduced = axes.reduce((p, a) => p * x.shape[a], 1);
  const kept = size / reduced;
  const outShape = attrs.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  const [rows, cols, axis] = leading ? [reduced, kept, 0 as const] : [kept, reduced, 1 as const];
  return { outShape, run: (addon, out, view) => addon.sumRowsOrColumns(view(x), out, rows, cols, axis) };
};

const PLANNERS: Record<string, Planner> = {
  [tf.BatchMatMul]: batchMatMulPlan,
  [tf._FusedMatMul]: fusedMatMulPlan,
  [tf.Conv2D]: conv2DPlan,
  [tf.FusedConv2D]: fusedConv2DPlan,
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilterPlan,
  [tf.Conv2DBackpropInput]: conv2DBackpropInputPlan,
  [tf.MaxPool]: maxPoolPlan,
  [tf.MaxPoolGrad]: maxPoolGradPlan,
  [tf.Tanh]: tanhPlan,
  [tf.Sum]: sumPlan,
  [tf.Transpose]: transposePlan,
};

// ---------------------------------------------------------------------------------------------
// Registration

export interface NativeKernelsOptions extends NativeAddonOptions {
  /** Which kernels to replace: a subset of NATIVE_KERNEL_NAMES (default all of them). */
  kernels?: readonly string[];
}

/** The kernel configs replaced by registerNativeKernels(), by kernel name. */
const previous = new Map<string, KernelConfig>();
/** Kernels registerNativeKernels() added: wasm has none of that name. */
const added: string[] = [];
const counts = new Map<string, { native: number; fallback: number }>();
let registered: { kernels: string[]; blas: string } | undefined;

/**
 * Registers `kernelFunc` in place of `original` on wasm, remembering `original` for unregisterNativeKernels.
 * The rest of the registration is kept: a stock kernel's setupFunc binds the wasm function its fallback calls.
 */
function replaceKernel(original: KernelConfig, kernelFunc: KernelFunc): void {
  markWasmReplacement(kernelFunc, original.kernelFunc);
  previous.set(original.kernelName, original);
  tf.unregisterKernel(original.kernelName, BACKEND);
  tf.registerKernel({ ...original, kernelFunc });
}

/**
 * Loads the addon, applies registerWasmTrainingKernels() and replaces the heavy kernels on backend
 * 'wasm' (import '@tensorflow/tfjs-backend-wasm' comes with this module; call before or after
 * tf.setBackend('wasm')). Idempotent. Returns why not (one line) when the addon is missing or cannot
 * load; nothing is registered then.
 */
export function registerNativeKernels(options: NativeKernelsOptions = {}): RegisterResult {
  if (registered) return { ok: true, kernels: [...registered.kernels], blas: registered.blas };
  const r = loadNativeAddon(options);
  if (!r.ok) return r;
  const { addon, blas } = r;
  registerWasmTrainingKernels();
  const kernels: string[] = [];
  for (const name of options.kernels ?? NATIVE_KERNEL_NAMES) {
    const plan = PLANNERS[name];
    if (plan === undefined) throw new Error(`registerNativeKernels: no native kernel '${name}'`);
    const original = tf.getKernel(name, BACKEND);
    if (!original) continue; // not in this tfjs version: nothing to fall back to
    const count = counts.get(name) ?? { native: 0, fallback: 0 };
    counts.set(name, count);
    const fallback = original.kernelFunc;
    const kernelFunc: KernelFunc = (params) => {
      const p = plan(params.inputs, params.attrs ?? {});
      if (p === null) {
        count.fallback++;
        return fallback(params);
      }
      count.native++;
      return execute(addon, params.backend, p);
    };
    replaceKernel(original, kernelFunc);
    kernels.push(name);
  }
  // registerWasmTrainingKernels() installed the encoder kernels, the conv block and Adam's update on plain
  // wasm's SIMD kernels; the addon's replace them (unregisterNativeKernels puts those back).
  const own = { ...encoderKernels(addon), ...convPoolKernels(addon), [ADAM_KERNEL]: adamKernel(addon.adamUpdate) };
  for (const [name, kernelFunc] of Object.entries(own)) {
    const wasm = tf.getKernel(name, BACKEND);
    if (!wasm) continue;
    replaceKernel(wasm, kernelFunc);
    kernels.push(name);
  }
  for (const [name, kernelFunc] of Object.entries(attentionKernels(addon))) {
    if (tf.getKernel(name, BACKEND)) continue;
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc });
    added.push(name);
    kernels.push(name);
  }
  registered = { kernels, blas };
  setRegisteredAddon(addon);
  return { ok: true, kernels: [...kernels], blas };
}

/** Puts back the kernels registerNativeKernels() replaced (the addon stays loaded). */
export function unregisterNativeKernels(): void {
  for (const [name, original] of previous) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(original);
  }
  previous.clear();
  for (const name of added.splice(0)) tf.unregisterKernel(name, BACKEND);
  registered = undefined;
  setRegisteredAddon(undefined);
}

/** How many calls of each replaced kernel ran natively and how many fell back to the previous kernel. */
export function nativeKernelStats(): Record<string, { native: number; fallback: number }> {
  return Object.fromEntries([...counts].map(([name, c]) => [name, { ...c }]));
}
