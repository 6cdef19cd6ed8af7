/**
 * Kernels that let `@tensorflow/tfjs-backend-wasm` (4.22) train conv nets, fast and correctly.
 *
 * Found by training small models on stock wasm (conv2d 'same'/'valid', strides 1/2, maxPooling2d,
 * flatten, dense, layerNormalization, dropout, gelu/gelu_new activations, and a custom attention layer
 * using batched matMul with transposeB, softmax, reshape, transpose, concat, slice, tile) with adam and
 * sgd, and comparing every gradient with the `cpu` backend:
 *
 * - `Conv2DBackpropFilter` is MISSING: `Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'`.
 * - `MaxPoolGrad` exists but is WRONG: it looks for the window maximum starting from FLT_MIN (the
 *   smallest positive float) with `>=`, so a window whose values are all <= 0 (e.g. pooling after a
 *   linear conv, tanh or layer norm) gets no gradient at all, and ties go to the last maximum instead of
 *   the first (cpu/TensorFlow). It is also slow (~20 ms for a 32x26x26x32 input).
 * - `Conv2DBackpropInput` exists but is a scalar loop, 15-30x slower than the forward conv.
 * - `BatchMatMul` uses XNNPACK only without transposes and with batch 1; the transposed products the
 *   dense-layer gradients need (x^T·dy, dy·W^T) fall to a scalar loop (~10 ms each for 32x1600x128), and
 *   so do products with both operands batched (attention: ~1.2 GFLOP/s).
 *
 * All four are registered here, composed of wasm's own C++/XNNPACK kernels (Conv2D,
 * DepthwiseConv2dNative, MaxPool, Transpose, Reverse, PadV2, Reshape, Sub, Multiply, Step, ...), called
 * directly the way tfjs-backend-wasm's kernels call each other (no engine bookkeeping, no tape), with
 * every intermediate released via `backend.disposeData`. Per-element JavaScript runs only where it beats
 * any composition: Adam's one-pass update, and MaxPoolGrad for windows that do not tile the input. Everything else
 * training needs exists on stock wasm and matches cpu (checked: FusedConv2D, _FusedMatMul, MaxPool,
 * Relu/Step, Softmax, Erf/Tanh (gelu, gelu_new), Mean/Sum, SquaredDifference, Rsqrt, Tile, Concat,
 * Slice, Pad, Transpose, the adam/sgd update ops).
 *
 * Each lives in a file of its own (wasmConvGradients, wasmMaxPoolGrad, wasmBatchMatMul, on wasmComposed);
 * this module says which kernels replace what and registers them.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { ADAM_KERNEL, adamKernel } from "./adamKernel.js";
import { CORRECT_COUNT_KERNEL, CROSS_ENTROPY_GRAD_KERNEL, CROSS_ENTROPY_KERNEL, LOSS_KERNELS } from "./lossKernels.js";
import { makeBatchMatMul } from "./wasmBatchMatMul.js";
import { STOCK_KERNELS, type Stock } from "./wasmComposed.js";
import { makeConv2DBackpropFilter, makeConv2DBackpropInput } from "./wasmConvGradients.js";
import { makeMaxPoolGrad } from "./wasmMaxPoolGrad.js";
import { makeSum } from "./wasmSum.js";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "./convPoolKernelNames.js";
import { makeConvPool, makeConvPoolGrad } from "./wasmConvPool.js";
import { encoderKernels } from "./encoderKernels.js";
import { GELU_GRAD_KERNEL, GELU_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from "./encoderKernelNames.js";
import { simdAdamUpdate, simdEncoderMath } from "./simd/onHeap.js";

const BACKEND = "wasm";

/** Marks kernel functions installed by this module (also across duplicate copies of this module). */
const MARK = Symbol.for("fedfusion.wasmTrainingKernel");
/** Where a replacing kernel keeps the stock kernel function it replaced. */
const STOCK = Symbol.for("fedfusion.wasmTrainingKernel.stock");

/** Kernel name -> why it is registered on wasm. */
export const WASM_TRAINING_KERNELS: Readonly<Record<string, string>> = {
  Conv2DBackpropFilter: "missing on stock wasm (conv2d filter gradient)",
  MaxPoolGrad: "stock wasm drops the gradient of windows whose max is <= 0 and breaks ties differently from cpu; also slow",
  Conv2DBackpropInput: "stock wasm version is a scalar loop, 15-30x slower than the forward conv",
  BatchMatMul: "stock wasm runs transposed products (dense-layer gradients) and batched ones (attention) in a scalar loop",
  Identity: "stock wasm copies the data; gradients call it hundreds of times per step (now shares it, as cpu does)",
  Cast: "stock wasm copies even to the same dtype (now shares the data then, as cpu does)",
  Sum: "stock wasm transposes the tensor before summing over leading axes (bias gradients); now float64 column sums in the SIMD kernels",
  [ADAM_KERNEL]: "new: Adam's update of a variable in one pass, in the SIMD kernels (tfjs's AdamOptimizer runs 14 kernels per variable)",
  [CROSS_ENTROPY_KERNEL]: "new: a batch's cross-entropy in one kernel (the composite is 5, on [batch, classes])",
  [CROSS_ENTROPY_GRAD_KERNEL]: "new: its gradient in one kernel (the composite's is ~13)",
  [CORRECT_COUNT_KERNEL]: "new: a batch's correct predictions in one kernel (the composite is 8)",
  [CONV_POOL_KERNEL]: "new: the conv block (conv + bias + ReLU + 2x2 max pool) forward: a first layer in the project's SIMD kernels, others as XNNPACK's fused conv then the pooling in JavaScript",
  [CONV_POOL_GRAD_KERNEL]: "new: its backward in the project's SIMD kernels (a later block's from the winning positions alone)",
  [GELU_KERNEL]: "new: GELU in one kernel, in the project's SIMD kernels (the composite's libm tanh alone took 5 ms for fusion-s's [1600,128])",
  [GELU_GRAD_KERNEL]: "new: its gradient in one kernel",
  [LAYER_NORM_KERNEL]: "new: layer norm in one kernel (the composite is ~10)",
  [LAYER_NORM_GRAD_KERNEL]: "new: its gradient in one kernel (the composite's is ~25)",
};

/** The kernel names {@link registerWasmTrainingKernels} installs on wasm. */
export const WASM_TRAINING_KERNEL_NAMES: readonly string[] = Object.keys(WASM_TRAINING_KERNELS);

// ---------------------------------------------------------------------------------------------------
// Identity and same-dtype Cast share the input's data (one more reference), as the cpu backend and
// wasm's own Reshape do: no wasm kernel writes into its inputs, so a shared buffer is never changed.

interface RefCountingBackend {
  incRef(dataId: TensorInfo["dataId"]): void;
}

function share(x: TensorInfo, backend: unknown): TensorInfo {
  (backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function makeIdentity(stock: Stock): KernelFunc {
  return (params) => {
    const { x } = params.inputs as { x: TensorInfo };
    return x.dtype === "string" ? stock.Identity(params) : share(x, params.backend);
  };
}

function makeCast(stock: Stock): KernelFunc {
  return (params) => {
    const { x } = params.inputs as { x: TensorInfo };
    return x.dtype !== "string" && x.dtype === params.attrs?.dtype ? share(x, params.backend) : stock.Cast(params);
  };
}

// ---------------------------------------------------------------------------------------------------

const FACTORIES: Record<string, (stock: Stock) => KernelFunc> = {
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
  MaxPoolGrad: makeMaxPoolGrad,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  BatchMatMul: makeBatchMatMul,
  Identity: makeIdentity,
  Cast: makeCast,
  Sum: makeSum,
  [ADAM_KERNEL]: () => adamKernel(simdAdamUpdate),
  [CROSS_ENTROPY_KERNEL]: () => LOSS_KERNELS[CROSS_ENTROPY_KERNEL],
  [CROSS_ENTROPY_GRAD_KERNEL]: () => LOSS_KERNELS[CROSS_ENTROPY_GRAD_KERNEL],
  [CORRECT_COUNT_KERNEL]: () => LOSS_KERNELS[CORRECT_COUNT_KERNEL],
  [CONV_POOL_KERNEL]: makeConvPool,
  [CONV_POOL_GRAD_KERNEL]: () => makeConvPoolGrad(),
  ...Object.fromEntries(Object.entries(encoderKernels(simdEncoderMath)).map(([name, kernel]) => [name, () => kernel])),
};

/**
 * Marks `kernelFunc`, which replaces `replaced` on wasm (e.g. the native OpenBLAS kernels), as a project
 * kernel: {@link registerWasmTrainingKernels} then neither replaces it nor mistakes it for the stock
 * kernel it composes its own kernels of (it uses the stock kernel recorded underneath instead).
 */
export function markWasmReplacement(kernelFunc: KernelFunc, replaced: KernelFunc | undefined): void {
  Object.defineProperty(kernelFunc, MARK, { value: true });
  const r = replaced as unknown as Record<symbol, unknown> | undefined;
  const stock = r != null && r[MARK] === true ? (r[STOCK] as KernelFunc | undefined) : replaced;
  if (stock != null) Object.defineProperty(kernelFunc, STOCK, { value: stock });
}

function isOurs(kernelName: string): boolean {
  const k = tf.getKernel(kernelName, BACKEND);
  return k != null && (k.kernelFunc as unknown as Record<symbol, unknown>)[MARK] === true;
}

/**
 * Registers the wasm kernels listed in {@link WASM_TRAINING_KERNELS}. Call after
 * `@tensorflow/tfjs-backend-wasm` has been imported (before or after `tf.setBackend('wasm')`).
 * Idempotent: returns the kernel names this call registered (empty when already done).
 */
export function registerWasmTrainingKernels(): string[] {
  const stock = {} as Stock;
  for (const name of STOCK_KERNELS) {
    const k = tf.getKernel(name, BACKEND);
    if (k == null) {
      throw new Error(
        `registerWasmTrainingKernels: kernel '${name}' is not registered for backend 'wasm'; ` +
          `import '@tensorflow/tfjs-backend-wasm' first`,
      );
    }
    // Our own BatchMatMul must not call itself: keep the stock one found before replacing it.
    if ((k.kernelFunc as unknown as Record<symbol, unknown>)[MARK] === true) {
      const original = (k.kernelFunc as unknown as Record<symbol, KernelFunc | undefined>)[STOCK];
      if (original == null) throw new Error(`registerWasmTrainingKernels: lost the stock '${name}' kernel`);
      stock[name] = original;
    } else {
      stock[name] = k.kernelFunc;
    }
  }
  const registered: string[] = [];
  for (const kernelName of Object.keys(WASM_TRAINING_KERNELS)) {
    if (isOurs(kernelName)) continue;
    const existing = tf.getKernel(kernelName, BACKEND);
    const kernelFunc = FACTORIES[kernelName](stock);
    Object.defineProperty(kernelFunc, MARK, { value: true });
    if (existing != null) {
      Object.defineProperty(kernelFunc, STOCK, { value: existing.kernelFunc });
      // Unregister first: registerKernel would only warn and overwrite.
      tf.unregisterKernel(kernelName, BACKEND);
    }
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc, setupFunc: existing?.setupFunc });
    registered.push(kernelName);
  }
  return registered;
}
