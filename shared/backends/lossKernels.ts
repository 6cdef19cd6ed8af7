/**
 * The training loss and accuracy of a batch as three kernels, on backend 'wasm' (plain and native): the
 * cross-entropy Σ −y·log(clip(p, 1e-7, 1)), its gradient, and the count of correct predictions. tfjs
 * composes them of ~30 kernels on [batch, classes] tensors (clip, log, mul, sum, neg and their gradients;
 * argMax ×2, equal, isFinite, …), each of which costs more in dispatch than in arithmetic: for `cnn` that
 * was a third of a training step's kernel calls. Computed here in JavaScript on views of the wasm heap,
 * with the composite ops' float32 roundings (the sums in float64).
 */
import { util } from "@tensorflow/tfjs-core";
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { executeOnHeap, requireFloat32 } from "./wasmHeap.js";

export const CROSS_ENTROPY_KERNEL = "FedfusionCrossEntropy";
export const CROSS_ENTROPY_GRAD_KERNEL = "FedfusionCrossEntropyGrad";
export const CORRECT_COUNT_KERNEL = "FedfusionCorrectCount";

/** Probabilities are clipped to [CLIP_MIN, 1] before the log, as Keras does: a confident mistake costs a finite loss. */
export const CLIP_MIN = Math.fround(1e-7);

const f = Math.fround;

type Inputs = Record<string, TensorInfo>;

/** p and y of one [batch, classes] shape, float32. */
function probabilitiesAndLabels(kernel: string, inputs: Inputs): { p: TensorInfo; y: TensorInfo } {
  const { p, y } = inputs;
  requireFloat32(kernel, p, y);
  if (p.shape.length !== 2 || !util.arraysEqual(p.shape, y.shape)) {
    throw new Error(`${kernel}: p [${p.shape}] and y [${y.shape}] must be one [batch, classes] shape`);
  }
  return { p, y };
}

const clip = (v: number) => Math.min(Math.max(v, CLIP_MIN), 1); // NaN stays NaN

/** −Σ y·log(clip(p)) over arrays of one length, rounded to float32 as the kernel's scalar holds it. */
export function crossEntropyOf(p: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += f(y[i] * f(Math.log(f(clip(p[i])))));
  return f(-s);
}

/**
 * The cross-entropy's gradient with respect to p, for the loss's scalar gradient dy: the clip passes the
 * gradient where CLIP_MIN ≤ p ≤ 1 (inclusive, as clipByValue's) and stops it elsewhere.
 */
export function crossEntropyGradOf(dy: number, p: Float32Array, y: Float32Array, dp: Float32Array): void {
  const g = -dy;
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    dp[i] = v >= CLIP_MIN && v <= 1 ? f(f(g * y[i]) / v) : 0;
  }
}

/** Rows of [rows, k] p whose argmax (the first maximum) matches y's and whose sum is finite. */
export function correctCountOf(p: Float32Array, y: Float32Array, rows: number, k: number): number {
  let hits = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let sum = 0;
    let ap = 0;
    let ay = 0;
    for (let j = 0; j < k; j++) {
      sum += p[o + j];
      if (p[o + j] > p[o + ap]) ap = j;
      if (y[o + j] > y[o + ay]) ay = j;
    }
    if (ap === ay && Number.isFinite(f(sum))) hits++;
  }
  return hits;
}

/** Inputs p, y → a float32 scalar: −Σ y·log(clip(p)). */
const crossEntropy: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CROSS_ENTROPY_KERNEL, inputs as Inputs);
  return executeOnHeap(backend, [[]], ([out], view) => {
    out[0] = crossEntropyOf(view(p), view(y));
  })[0];
};

/** Inputs dy (the loss's scalar gradient), p, y → [dp, dy_labels], as the composite's gradients. */
const crossEntropyGrad: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CROSS_ENTROPY_GRAD_KERNEL, inputs as Inputs);
  const dy = (inputs as Inputs).dy;
  requireFloat32(CROSS_ENTROPY_GRAD_KERNEL, dy);
  if (util.sizeFromShape(dy.shape) !== 1) throw new Error(`${CROSS_ENTROPY_GRAD_KERNEL}: dy must be a scalar, got [${dy.shape}]`);
  return executeOnHeap(backend, [[...p.shape], [...y.shape]], ([dp, dLabels], view) => {
    const pv = view(p);
    const dyValue = view(dy)[0];
    crossEntropyGradOf(dyValue, pv, view(y), dp);
    for (let i = 0; i < pv.length; i++) dLabels[i] = f(-dyValue * f(Math.log(f(clip(pv[i])))));
  });
};

/** Inputs p, y → a float32 scalar: rows whose argmax (the first maximum) matches y's and whose sum is finite. */
const correctCount: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CORRECT_COUNT_KERNEL, inputs as Inputs);
  const [rows, k] = p.shape as [number, number];
  return executeOnHeap(backend, [[]], ([out], view) => {
    out[0] = correctCountOf(view(p), view(y), rows, k);
  })[0];
};

/** Kernel name → function, for registerWasmTrainingKernels. */
export const LOSS_KERNELS: Readonly<Record<string, KernelFunc>> = {
  [CROSS_ENTROPY_KERNEL]: crossEntropy,
  [CROSS_ENTROPY_GRAD_KERNEL]: crossEntropyGrad,
  [CORRECT_COUNT_KERNEL]: correctCount,
};
