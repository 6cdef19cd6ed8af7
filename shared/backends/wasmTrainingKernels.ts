/**
 * Kernels that let `@tensorflow/tfjs-backend-wasm` (4.22) train convolutional networks.
 *
 * Stock wasm has no `Conv2DBackpropFilter` (the filter gradient of conv2d), so any model with a
 * trainable conv2d layer fails with `Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'`.
 * Its `Conv2DBackpropInput` (the input gradient) exists but is a naive scalar loop, 15–25x slower than
 * the forward convolution. Both are registered here, expressed entirely through wasm's own fast
 * kernels (XNNPACK `Conv2D`, `Transpose`, `Reverse`, `PadV2`, `StridedSlice`, `Reshape`): no per-element
 * JavaScript on the hot path.
 *
 * Filter gradient, for x [B,H,W,Ci], dy [B,OH,OW,Co], stride s, padding (top pt, left pl):
 *   dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh−pt, ow·s+kw−pl, ci] · dy[b,oh,ow,co]
 * which is a stride-1 convolution of x' = transpose(x) [Ci,H,W,B] ("batch" Ci, "channels" B) with
 * the "filter" dy' = transpose(dy) [OH,OW,B,Co] at dilation s and explicit padding, giving
 * [Ci,KH,KW,Co], transposed back to [KH,KW,Ci,Co].
 *
 * Input gradient: a stride-1 convolution of dy (zero-inserted by s−1 between rows/columns when s>1)
 * with the spatially reversed filter whose in/out channels are swapped, with padding KH−1−pt on top.
 *
 * Negative paddings (possible with 'valid' + stride 2, large explicit pads or dimRoundingMode) are
 * realised by cropping with StridedSlice before convolving, so every padding/stride case of the conv2d
 * gradient is computed exactly. The conv2d gradient in tfjs-core itself rejects dilations > 1, so those
 * never reach these kernels. Non-float32 inputs throw.
 */
import * as tf from "@tensorflow/tfjs-core";
import { backend_util } from "@tensorflow/tfjs-core";
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs-core";

const BACKEND = "wasm";

/** Marks kernel functions installed by this module (works across duplicate module instances). */
const MARK = Symbol.for("fedfusion.wasmTrainingKernel");

/** The stock wasm kernels the gradients are composed of. */
const STOCK_KERNELS = ["Conv2D", "Transpose", "Reshape", "Reverse", "PadV2", "StridedSlice", "Fill"] as const;
type StockName = (typeof STOCK_KERNELS)[number];
type Stock = Record<StockName, KernelFunc>;

/** Kernels this module installs on wasm. */
export const WASM_TRAINING_KERNEL_NAMES: readonly string[] = ["Conv2DBackpropFilter", "Conv2DBackpropInput"];

type Run = (name: StockName, inputs: TensorInfo[] | Record<string, TensorInfo>, attrs?: object) => TensorInfo;

/**
 * Runs `body` with a `run` helper that calls stock wasm kernels directly (as tfjs-backend-wasm's own
 * kernels call each other: no engine bookkeeping, no tape). Every intermediate it produces is released
 * with `backend.disposeData` afterwards (also on error), except the returned one, whose single reference
 * passes to the engine.
 */
function composed(stock: Stock, backend: KernelBackend, body: (run: Run) => TensorInfo): TensorInfo {
  const temps: TensorInfo[] = [];
  const run: Run = (name, inputs, attrs = {}) => {
    const out = stock[name]({ inputs: inputs as never, attrs: attrs as NamedAttrMap, backend }) as TensorInfo;
    temps.push(out);
    return out;
  };
  let result: TensorInfo | undefined;
  try {
    result = body(run);
    return result;
  } finally {
    for (const t of temps) if (t !== result) backend.disposeData(t.dataId);
  }
}

function requireFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== "float32") {
      throw new Error(`${kernel} (wasm training kernel): only float32 is supported, got ${t.dtype}`);
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Stride-1 NHWC convolution with arbitrary (possibly negative) explicit padding and dilation.
 * Negative padding crops the input (StridedSlice); XNNPACK gets the non-negative remainder.
 */
function convExplicit(
  run: Run,
  x: TensorInfo,
  filter: TensorInfo,
  [top, bottom, left, right]: [number, number, number, number],
  dilations: [number, number],
): TensorInfo {
  let input = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = x.shape;
    const begin = [0, Math.max(0, -top), Math.max(0, -left), 0];
    const end = [n, h - Math.max(0, -bottom), w - Math.max(0, -right), c];
    if (end[1] <= begin[1] || end[2] <= begin[2]) {
      throw new Error(`wasm training kernel: convolution window lies outside the input (${x.shape})`);
    }
    input = run("StridedSlice", { x }, {
      begin, end, strides: [1, 1, 1, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
    });
    top = Math.max(0, top);
    bottom = Math.max(0, bottom);
    left = Math.max(0, left);
    right = Math.max(0, right);
  }
  return run("Conv2D", { x: input, filter }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: "NHWC",
    dilations,
    dimRoundingMode: undefined,
  });
}

function makeBackpropFilter(stock: Stock): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    requireFloat32("Conv2DBackpropFilter", x, dy);
    const channelsLast = backend_util.convertConv2DDataFormat(dataFormat ?? "NHWC") === "channelsLast";
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false,
      channelsLast ? "channelsLast" : "channelsFirst",
    );
    if (!sameShape(dy.shape, info.outShape)) {
      throw new Error(`Conv2DBackpropFilter (wasm): dy shape ${dy.shape} does not match the convolution output ${info.outShape}`);
    }
    const { inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW, outHeight: OH, outWidth: OW } = info;
    const { strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    return composed(stock, backend as KernelBackend, (run) => {
      if (size(x.shape) === 0 || size(dy.shape) === 0) {
        return run("Fill", {}, { shape: filterShape, value: 0, dtype: "float32" });
      }
      // x -> [Ci, H, W, B]; dy -> [OH, OW, B, Co]
      const xT = run("Transpose", { x }, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] });
      const dyT = run("Transpose", { x: dy }, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] });
      const bottom = KH - H - top + (OH - 1) * sh;
      const right = KW - W - left + (OW - 1) * sw;
      const g = convExplicit(run, xT, dyT, [top, bottom, left, right], [sh, sw]); // [Ci, KH, KW, Co]
      return run("Transpose", { x: g }, { perm: [1, 2, 0, 3] });
    });
  };
}

function makeBackpropInput(stock: Stock): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    requireFloat32("Conv2DBackpropInput", dy, filter);
    const channelsLast = backend_util.convertConv2DDataFormat(dataFormat ?? "NHWC") === "channelsLast";
    const info = backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false,
      channelsLast ? "channelsLast" : "channelsFirst",
    );
    if (!sameShape(dy.shape, info.outShape)) {
      throw new Error(`Conv2DBackpropInput (wasm): dy shape ${dy.shape} does not match the convolution output ${info.outShape}`);
    }
    const { batchSize: B, inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW } = info;
    const { outHeight: OH, outWidth: OW, outChannels: CO, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    return composed(stock, backend as KernelBackend, (run) => {
      if (size(inputShape) === 0 || size(dy.shape) === 0) {
        return run("Fill", {}, { shape: inputShape, value: 0, dtype: "float32" });
      }
      let d = channelsLast ? dy : run("Transpose", { x: dy }, { perm: [0, 2, 3, 1] });
      // Zero-insert s-1 rows/columns after every dy element: [B,OH,1,OW,1,C] padded to [B,OH,sh,OW,sw,C].
      let rows = OH;
      let cols = OW;
      if (sh > 1 || sw > 1) {
        const d6 = run("Reshape", { x: d }, { shape: [B, OH, 1, OW, 1, CO] });
        const p6 = run("PadV2", { x: d6 }, {
          paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
        });
        rows = OH * sh;
        cols = OW * sw;
        d = run("Reshape", { x: p6 }, { shape: [B, rows, cols, CO] });
      }
      // Filter [KH,KW,Ci,Co] -> reversed in space, channels swapped: [KH,KW,Co,Ci].
      const rev = run("Reverse", { x: filter }, { dims: [0, 1] });
      const f = run("Transpose", { x: rev }, { perm: [0, 1, 3, 2] });
      const padTop = KH - 1 - top;
      const padLeft = KW - 1 - left;
      // Output must have H rows: rows + padTop + padBottom - KH + 1 = H.
      const padBottom = H + KH - 1 - rows - padTop;
      const padRight = W + KW - 1 - cols - padLeft;
      const dx = convExplicit(run, d, f, [padTop, padBottom, padLeft, padRight], [1, 1]);
      return channelsLast ? dx : run("Transpose", { x: dx }, { perm: [0, 3, 1, 2] });
    });
  };
}

function isOurs(kernelName: string): boolean {
  const k = tf.getKernel(kernelName, BACKEND);
  return k != null && (k.kernelFunc as unknown as Record<symbol, unknown>)[MARK] === true;
}

/**
 * Registers the wasm kernels needed to train conv nets (see the module comment). Call after
 * `@tensorflow/tfjs-backend-wasm` has been imported (before or after `tf.setBackend('wasm')`).
 * Idempotent: returns the kernel names registered by this call (empty when already done).
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
    stock[name] = k.kernelFunc;
  }
  const factories: Record<string, (s: Stock) => KernelFunc> = {
    Conv2DBackpropFilter: makeBackpropFilter,
    Conv2DBackpropInput: makeBackpropInput,
  };
  const registered: string[] = [];
  for (const kernelName of WASM_TRAINING_KERNEL_NAMES) {
    if (isOurs(kernelName)) continue;
    const kernelFunc = factories[kernelName](stock);
    Object.defineProperty(kernelFunc, MARK, { value: true });
    // Replacing the stock (slow) Conv2DBackpropInput: unregister first so tfjs does not warn.
    if (tf.getKernel(kernelName, BACKEND) != null) tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
    registered.push(kernelName);
  }
  return registered;
}
