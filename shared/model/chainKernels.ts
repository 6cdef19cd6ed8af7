/**
 * The kernels a chain model run outside tfjs (nativeChain.ts) is computed with, and where its arrays live:
 * the native addon's (OpenBLAS, AVX2) on plain Float32Arrays where it is built, or, on the wasm fallback,
 * the project's WebAssembly SIMD kernels (shared/backends/simd/) on views of their own memory. Stages and
 * the trainer allocate through float32/int32 and call only what is here, so one chain code serves both.
 */
import { getBackend } from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { AdamCoefficients } from "../backends/adamKernel.js";
import type { ConvPoolBlock } from "../backends/convPoolBlock.js";
import { activeNativeAddon } from "../backends/native/activeAddon.js";
import type { NativeAddon } from "../backends/native/nativeAddon.js";
import { blockGeometry } from "../backends/native/convPoolKernels.js";
import { simdChainKernels } from "../backends/simd/simdKernels.js";

export interface ChainKernels {
  /** Which kernels: also what a training run reports as its runner. */
  readonly kind: "native" | "simd";
  /** Zeroed arrays the kernels can work on. */
  float32(length: number): Float32Array;
  int32(length: number): Int32Array;
  /** C = alpha · op(A) · op(B) + beta · C, row-major, as cblas_sgemm. */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number,
  ): void;
  /** In place on y [rows, cols]: + bias per column (when given), then ReLU as tfjs's (v < 0 ? 0 : v) when asked. */
  biasRelu(y: Float32Array, rows: number, cols: number, bias: Float32Array | null, relu: boolean): void;
  /** out[j] = Σ_i x[i, j] over x [rows, cols], in float64. */
  sumColumns(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** Whether convPool and convPoolGrad take this block (with its input's gradient when asked). */
  coversConvPool(block: ConvPoolBlock, inputGradient: boolean): boolean;
  /** The conv block (conv + bias + ReLU + 2x2 max pool): y and each pooled value's winning position 0..3. */
  convPool(x: Float32Array, filter: Float32Array, bias: Float32Array, y: Float32Array, argmax: Int32Array, block: ConvPoolBlock): void;
  /** Its gradients from convPool's y and argmax; dx is skipped when null. */
  convPoolGrad(
    dy: Float32Array, x: Float32Array, filter: Float32Array, y: Float32Array, argmax: Int32Array,
    dfilter: Float32Array, dbias: Float32Array, dx: Float32Array | null, block: ConvPoolBlock,
  ): void;
  /** Adam's step for one variable, tfjs's float32 arithmetic (adamKernel.ts). */
  adamUpdate(
    x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    xOut: Float32Array, mOut: Float32Array, vOut: Float32Array, c: AdamCoefficients,
  ): void;
}

/**
 * The kernels for a chain of this model, or null where none applies: the native addon's while its kernels
 * are registered on 'wasm' (the native path), else on plain 'wasm' the SIMD kernels, with memory for up to
 * `floats` values (what the chain and its trainer will allocate; see chainFloats).
 */
export function activeChainKernels(floats: () => number): ChainKernels | null {
  const addon = activeNativeAddon();
  if (addon !== null) return addonKernels(addon);
  return getBackend() === "wasm" ? simdChainKernels(floats()) : null;
}

const adapters = new WeakMap<NativeAddon, ChainKernels>();

function addonKernels(addon: NativeAddon): ChainKernels {
  let k = adapters.get(addon);
  if (k === undefined) {
    k = {
      kind: "native",
      float32: (n) => new Float32Array(n),
      int32: (n) => new Int32Array(n),
      sgemm: (...args) => addon.sgemm(...args),
      // Bias per column (mode 2) or none (0); ReLU is activation code 1.
      biasRelu: (y, rows, cols, bias, relu) => addon.biasActivation(y, rows, cols, bias, bias ? 2 : 0, relu ? 1 : 0, 0, null, 0),
      sumColumns: (x, out, rows, cols) => addon.sumRowsOrColumns(x, out, rows, cols, 0),
      coversConvPool: () => true,
      convPool: (x, w, b, y, argmax, block) => addon.convPool(x, w, b, y, argmax, blockGeometry(block)),
      convPoolGrad: (dy, x, w, y, argmax, dw, db, dx, block) => addon.convPoolGrad(dy, x, w, y, argmax, dw, db, dx, blockGeometry(block)),
      adamUpdate: (...args) => addon.adamUpdate(...args),
    };
    adapters.set(addon, k);
  }
  return k;
}

/**
 * At most how many values a chain of this model for batches of batchSize, and its trainer, allocate:
 * per weight its value, gradient and Adam's two moments; per example the input twice (the batch and a
 * stage's input gradient) and each layer's output three times (activation, argmax or pre-activation
 * gradient, input gradient of the next), plus the labels and the loss gradient. Layer outputs are read
 * off the model, so a conv block's full conv output counts too: an over-estimate, which costs only
 * address space (untouched pages are never backed).
 */
export function chainFloats(model: tfl.LayersModel, batchSize: number): number {
  const size = (shape: (number | null)[]) => shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  const input = size(model.inputs[0].shape);
  let outputs = 0;
  for (const layer of model.layers) outputs += size(layer.outputShape as (number | null)[]);
  // +4 per array for the 16-byte alignment of each allocation (a few dozen arrays).
  return 4 * model.countParams() + batchSize * (2 * input + 3 * outputs) + 4096;
}
