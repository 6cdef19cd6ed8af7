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

/** Inputs p, y → a float32 scalar: −Σ y·log(clip(p)). */
const crossEntropy: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CROSS_ENTROPY_KERNEL, inputs as Inputs);
  return executeOnHeap(backend, [[]], ([out], view) => {
    const pv = view(p);
    const yv = view(y);
    let s = 0;
    for (let i = 0; i < pv.length; i++) s += f(yv[i] * f(Math.log(f(clip(pv[i])))));
    out[0] = -s;
  })[0];
};

/**
 * Inputs dy (the loss's scalar gradient), p, y → [dp, dy_labels], as the composite's gradients: the
 * clip passes the gradient where CLIP_MIN ≤ p ≤ 1 (inclusive, as clipByValue's) and stops it elsewhere.
 */
const crossEntropyGrad: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CROSS_ENTROPY_GRAD_KERNEL, inputs as Inputs);
  const dy = (inputs as Inputs).dy;
  requireFloat32(CROSS_ENTROPY_GRAD_KERNEL, dy);
  if (util.sizeFromShape(dy.shape) !== 1) throw new Error(`${CROSS_ENTROPY_GRAD_KERNEL}: dy must be a scalar, got [${dy.shape}]`);
  return executeOnHeap(backend, [[...p.shape], [...y.shape]], ([dp, dLabels], view) => {
    const pv = view(p);
    const yv = view(y);
    const g = -view(dy)[0];
    for (let i = 0; i < pv.length; i++) {
      const v = pv[i];
      dp[i] = v >= CLIP_MIN && v <= 1 ? f(f(g * yv[i]) / v) : 0;
      dLabels[i] = f(g * f(Math.log(f(clip(v)))));
    }
  });
};

/** Inputs p, y → a float32 scalar: rows whose argmax (the first maximum) matches y's and whose sum is finite. */
const correctCount: KernelFunc = ({ inputs, backend }) => {
  const { p, y } = probabilitiesAndLabels(CORRECT_COUNT_KERNEL, inputs as Inputs);
  const [rows, k] = p.shape as [number, number];
  return executeOnHeap(backend, [[]], ([out], view) => {
    const pv = view(p);
    const yv = view(y);
    let hits = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * k;
      let sum = 0;
      let ap = 0;
      let ay = 0;
      for (let j = 0; j < k; j++) {
        sum += pv[o + j];
        if (pv[o + j] > pv[o + ap]) ap = j;
        if (yv[o + j] > yv[o + ay]) ay = j;
      }
      if (ap === ay && Number.isFinite(f(sum))) hits++;
    }
    out[0] = hits;
  })[0];
};

/** Kernel name → function, for registerWasmTrainingKernels. */
export const LOSS_KERNELS: Readonly<Record<string, KernelFunc>> = {
  [CROSS_ENTROPY_KERNEL]: crossEntropy,
  [CROSS_ENTROPY_GRAD_KERNEL]: crossEntropyGrad,
  [CORRECT_COUNT_KERNEL]: correctCount,
};
