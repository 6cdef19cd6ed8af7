/**
 * Adam's update of one variable as one kernel, FedfusionAdam, on backend 'wasm'. tfjs's AdamOptimizer
 * runs 14 kernels per variable per step (plus scalar tensors); for the fusion model that was ~600 of a
 * training step's ~1,100 kernel calls. The kernel does the same float32 arithmetic in the same order, so
 * it gives bit-identical results: every operation below is one float32 operation of AdamOptimizer's
 * (Math.fround after each; a float64 result of float32 operands rounds to the exact float32 result).
 * jsAdamUpdate is the reference: the native addon (native/src/elementwise.cc) and, on plain wasm, the SIMD
 * kernels (simd/src/kernels.cc) run the same loop, tested bit for bit against it.
 */
import { backend, util } from "@tensorflow/tfjs-core";
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { activeBackendHas } from "./activeBackendHas.js";
import { executeOnHeap, requireFloat32 } from "./wasmHeap.js";

export const ADAM_KERNEL = "FedfusionAdam";

/**
 * The scalars of one step, each rounded to float32 as tfjs's scalar tensors hold them:
 * [beta1, 1 − beta1, beta2, 1 − beta2, 1 − beta1^t, 1 − beta2^t, epsilon, −learning rate].
 */
export type AdamCoefficients = Float32Array;

/**
 * The coefficients of Adam's steps 1, 2, … in turn, with beta^t kept in float32 as AdamOptimizer's
 * accBeta variables keep it.
 */
export class AdamSchedule {
  private accBeta1: number;
  private accBeta2: number;

  /** Defaults as tfjs's AdamOptimizer: beta1 0.9, beta2 0.999, epsilon the active backend's. */
  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = backend().epsilon(),
  ) {
    this.accBeta1 = Math.fround(beta1);
    this.accBeta2 = Math.fround(beta2);
  }

  /** The next step's coefficients. */
  next(): AdamCoefficients {
    // Float32Array.of rounds each scalar to float32, as tfjs's scalar tensors hold them.
    const c = Float32Array.of(
      this.beta1, 1 - this.beta1, this.beta2, 1 - this.beta2, 1 - this.accBeta1, 1 - this.accBeta2, this.epsilon, -this.learningRate,
    );
    this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(this.beta1));
    this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(this.beta2));
    return c;
  }
}

/** value' , m', v' from value, gradient, m, v (all of one length). */
export type AdamUpdate = (
  x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  xOut: Float32Array, mOut: Float32Array, vOut: Float32Array, c: AdamCoefficients,
) => void;

const f = Math.fround;

export const jsAdamUpdate: AdamUpdate = (x, g, m, v, xOut, mOut, vOut, c) => {
  const [b1, omb1, b2, omb2, c1, c2, eps, negLr] = c;
  for (let i = 0; i < x.length; i++) {
    const gi = g[i];
    const mi = f(f(m[i] * b1) + f(gi * omb1));
    const vi = f(f(v[i] * b2) + f(f(gi * gi) * omb2));
    const mHat = f(mi / c1);
    const vHat = f(vi / c2);
    xOut[i] = f(f(f(mHat / f(f(Math.sqrt(vHat)) + eps)) * negLr) + x[i]);
    mOut[i] = mi;
    vOut[i] = vi;
  }
};

/** The kernel function: inputs x, g, m, v (float32, one shape), attr `coefficients`; outputs [x', m', v']. */
export function adamKernel(update: AdamUpdate): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { x, g, m, v } = inputs as Record<string, TensorInfo>;
    requireFloat32(ADAM_KERNEL, x, g, m, v);
    for (const t of [g, m, v]) {
      if (!util.arraysEqual(t.shape, x.shape)) throw new Error(`${ADAM_KERNEL}: input of shape [${t.shape}] does not match the variable's [${x.shape}]`);
    }
    const c = (attrs as { coefficients?: AdamCoefficients }).coefficients;
    if (!(c instanceof Float32Array) || c.length !== 8) throw new Error(`${ADAM_KERNEL}: attr 'coefficients' must be a Float32Array of 8 values`);
    const shape = [...x.shape];
    return executeOnHeap(backend, [shape, shape, shape], ([xo, mo, vo], view) => update(view(x), view(g), view(m), view(v), xo, mo, vo, c));
  };
}

/** Whether the active backend has the fused kernel (the optimizer falls back to tfjs's Adam otherwise). */
export function hasAdamKernel(): boolean {
  return activeBackendHas(ADAM_KERNEL);
}
