/**
 * The fused encoder kernels (encoderKernelNames.ts) on backend 'wasm': on the native path the addon's
 * (native/src/encoder.cc), working on the wasm heap; on plain wasm the project's SIMD kernels
 * (simd/src/kernels.cc, on copies). They are new kernel names: a backend without them keeps the
 * composite ops (shared/model/encoderOps.ts).
 */
import { util } from "@tensorflow/tfjs-core";
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import {
  GELU_GRAD_KERNEL,
  GELU_KERNEL,
  LAYER_NORM_EPSILON,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
} from "./encoderKernelNames.js";
import type { NativeAddon } from "./native/nativeAddon.js";
import { executeOnHeap, requireFloat32 } from "./wasmHeap.js";

/** The arithmetic behind the kernels, on views of the wasm heap (the native addon's functions). */
export type EncoderMath = Pick<NativeAddon, "gelu" | "geluGrad" | "layerNorm" | "layerNormGrad">;

type Inputs = Record<string, TensorInfo>;

/** Rows × d of a tensor normalised over its last axis, checked against gamma of length d (the addon checks beta too). */
function rowsOf(kernel: string, x: TensorInfo, gamma: TensorInfo): [number, number] {
  const d = x.shape[x.shape.length - 1] ?? 0;
  if (d === 0 || util.sizeFromShape(gamma.shape) !== d) throw new Error(`${kernel}: gamma of shape [${gamma.shape}] does not match x [${x.shape}]`);
  return [util.sizeFromShape(x.shape) / d, d];
}

/** The kernels, by name. */
export function encoderKernels(addon: EncoderMath): Record<string, KernelFunc> {
  return {
    [GELU_KERNEL]: ({ inputs, backend }) => {
      const { x } = inputs as Inputs;
      requireFloat32(GELU_KERNEL, x);
      return executeOnHeap(backend, [[...x.shape]], ([y], view) => addon.gelu(view(x), y))[0];
    },
    [GELU_GRAD_KERNEL]: ({ inputs, backend }) => {
      const { dy, x } = inputs as Inputs;
      requireFloat32(GELU_GRAD_KERNEL, dy, x);
      if (!util.arraysEqual(dy.shape, x.shape)) throw new Error(`${GELU_GRAD_KERNEL}: dy [${dy.shape}] and x [${x.shape}] differ`);
      return executeOnHeap(backend, [[...x.shape]], ([dx], view) => addon.geluGrad(view(dy), view(x), dx))[0];
    },
    [LAYER_NORM_KERNEL]: ({ inputs, backend }) => {
      const { x, gamma, beta } = inputs as Inputs;
      requireFloat32(LAYER_NORM_KERNEL, x, gamma, beta);
      const [rows, d] = rowsOf(LAYER_NORM_KERNEL, x, gamma);
      return executeOnHeap(backend, [[...x.shape]], ([y], view) => addon.layerNorm(view(x), view(gamma), view(beta), y, rows, d, LAYER_NORM_EPSILON))[0];
    },
    [LAYER_NORM_GRAD_KERNEL]: ({ inputs, backend }) => {
      const { dy, x, gamma } = inputs as Inputs;
      requireFloat32(LAYER_NORM_GRAD_KERNEL, dy, x, gamma);
      if (!util.arraysEqual(dy.shape, x.shape)) throw new Error(`${LAYER_NORM_GRAD_KERNEL}: dy [${dy.shape}] and x [${x.shape}] differ`);
      const [rows, d] = rowsOf(LAYER_NORM_GRAD_KERNEL, x, gamma);
      return executeOnHeap(backend, [[...x.shape], [...gamma.shape], [...gamma.shape]], ([dx, dgamma, dbeta], view) =>
        addon.layerNormGrad(view(dy), view(x), view(gamma), dx, dgamma, dbeta, rows, d, LAYER_NORM_EPSILON),
      );
    },
  };
}
