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
 *   dense-layer gradients need (x^T·dy, dy·W^T) fall to a scalar loop (~10 ms each for 32x1600x128).
 *
 * All four are registered here, composed only of wasm's own C++/XNNPACK kernels (Conv2D,
 * DepthwiseConv2dNative, MaxPool, Transpose, Reverse, PadV2, Reshape, Sub, Multiply, Step, ...), called
 * directly the way tfjs-backend-wasm's kernels call each other (no engine bookkeeping, no tape), with
 * every intermediate released via `backend.disposeData`; no per-element JavaScript. Everything else
 * training needs exists on stock wasm and matches cpu (checked: FusedConv2D, _FusedMatMul, MaxPool,
 * Relu/Step, Softmax, Erf/Tanh (gelu, gelu_new), Mean/Sum, SquaredDifference, Rsqrt, Tile, Concat,
 * Slice, Pad, Transpose, the adam/sgd update ops).
 *
 * Filter gradient (x [B,H,W,Ci], dy [B,OH,OW,Co], stride s, padding top pt / left pl):
 *   dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s+kh−pt, ow·s+kw−pl, ci] · dy[b,oh,ow,co]
 * = a stride-1 convolution of transpose(x) [Ci,H,W,B] with the "filter" transpose(dy) [OH,OW,B,Co] at
 * dilation s, giving [Ci,KH,KW,Co], transposed to [KH,KW,Ci,Co].
 * Input gradient: a stride-1 convolution of dy (zero-inserted by s−1 between rows/columns when s>1)
 * with the spatially reversed filter whose channel axes are swapped, padded KH−1−pt on top.
 * Negative paddings (e.g. 'valid' with stride 2, large explicit pads, dimRoundingMode) are realised by
 * cropping, so every padding/stride/rounding case is computed exactly (tfjs-core itself rejects conv2d
 * gradients with dilations > 1, so those never reach these kernels). Non-float32 inputs throw.
 */
import * as tf from "@tensorflow/tfjs-core";
import { backend_util } from "@tensorflow/tfjs-core";
import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs-core";
import { ADAM_KERNEL, adamKernel, jsAdamUpdate } from "./adamKernel.js";
import { requireFloat32 } from "./wasmHeap.js";
import { canSliceMatMul, sliceMatMul } from "./wasmSliceMatMul.js";

const BACKEND = "wasm";

/** Marks kernel functions installed by this module (also across duplicate copies of this module). */
const MARK = Symbol.for("fedfusion.wasmTrainingKernel");
/** Where a replacing kernel keeps the stock kernel function it replaced. */
const STOCK = Symbol.for("fedfusion.wasmTrainingKernel.stock");

/** The stock wasm kernels the replacements are composed of. */
const STOCK_KERNELS = [
  "Conv2D", "DepthwiseConv2dNative", "MaxPool", "Max", "BatchMatMul", "Transpose", "Reshape", "Reverse", "PadV2",
  "Slice", "StridedSlice", "Concat", "Fill", "Identity", "Cast", "Add", "Sub", "Multiply", "Step", "AddN", "ClipByValue",
] as const;
type StockName = (typeof STOCK_KERNELS)[number];
type Stock = Record<StockName, KernelFunc>;

type Run = (name: StockName, inputs: TensorInfo[] | Record<string, TensorInfo>, attrs?: object) => TensorInfo;

/** Kernel name -> why it is registered on wasm. */
export const WASM_TRAINING_KERNELS: Readonly<Record<string, string>> = {
  Conv2DBackpropFilter: "missing on stock wasm (conv2d filter gradient)",
  MaxPoolGrad: "stock wasm drops the gradient of windows whose max is <= 0 and breaks ties differently from cpu; also slow",
  Conv2DBackpropInput: "stock wasm version is a scalar loop, 15-30x slower than the forward conv",
  BatchMatMul: "stock wasm runs transposed products (dense-layer gradients) and batched ones (attention) in a scalar loop",
  Identity: "stock wasm copies the data; gradients call it hundreds of times per step (now shares it, as cpu does)",
  Cast: "stock wasm copies even to the same dtype (now shares the data then, as cpu does)",
  [ADAM_KERNEL]: "new: Adam's update of a variable in one pass (tfjs's AdamOptimizer runs 14 kernels per variable)",
};

/** The kernel names {@link registerWasmTrainingKernels} installs on wasm. */
export const WASM_TRAINING_KERNEL_NAMES: readonly string[] = Object.keys(WASM_TRAINING_KERNELS);

/**
 * Runs `body` with `run`, which calls stock wasm kernels directly. Every intermediate `run` produces is
 * released afterwards (also on error) except the returned one, whose single reference goes to the engine.
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

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Crops an NHWC tensor's spatial axes by non-negative amounts. Done as (at most) two 2-D slices, which
 * wasm's Slice copies row by row ([n, h*w*c] then [n*h, w*c]); its 4-D slice copies pixel by pixel.
 */
function crop(run: Run, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  let t = x;
  const [n, h, w, c] = t.shape;
  const h2 = h - top - bottom;
  const w2 = w - left - right;
  if (top > 0 || bottom > 0) {
    const v = run("Reshape", { x: t }, { shape: [n, h * w * c] });
    const s = run("Slice", { x: v }, { begin: [0, top * w * c], size: [n, h2 * w * c] });
    t = run("Reshape", { x: s }, { shape: [n, h2, w, c] });
  }
  if (left > 0 || right > 0) {
    const v = run("Reshape", { x: t }, { shape: [n * h2, w * c] });
    const s = run("Slice", { x: v }, { begin: [0, left * c], size: [n * h2, w2 * c] });
    t = run("Reshape", { x: s }, { shape: [n, h2, w2, c] });
  }
  return t;
}

/**
 * The same crop as {@link crop} as one XNNPACK depthwise convolution whose only non-zero tap (1) sits
 * at [top, left]: exact, and several times faster than slicing, but ONLY for finite x (0·Inf = NaN).
 */
function cropFinite(run: Run, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  const c = x.shape[3];
  const one = run("Fill", {}, { shape: [1, 1, c, 1], value: 1, dtype: "float32" });
  const taps = run("PadV2", { x: one }, { paddings: [[top, bottom], [left, right], [0, 0], [0, 0]], constantValue: 0 });
  return run("DepthwiseConv2dNative", { x, filter: taps }, {
    strides: [1, 1], pad: "valid", dilations: [1, 1], dimRoundingMode: undefined,
  });
}

/**
 * Pads (positive amounts, with `value`) and/or crops (negative amounts) the two spatial axes of an
 * NHWC tensor: [top, bottom, left, right]. Returns null when the crop leaves nothing. `finite` promises
 * that x holds no Infinity/NaN, allowing the faster crop.
 */
function padOrCrop(
  run: Run, x: TensorInfo, [top, bottom, left, right]: number[], value: number, finite = false,
): TensorInfo | null {
  let t = x;
  const neg = (v: number) => Math.max(0, -v);
  const pos = (v: number) => Math.max(0, v);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [, h, w] = t.shape;
    if (h - neg(top) - neg(bottom) <= 0 || w - neg(left) - neg(right) <= 0) return null;
    t = (finite ? cropFinite : crop)(run, t, neg(top), neg(bottom), neg(left), neg(right));
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    t = run("PadV2", { x: t }, {
      paddings: [[0, 0], [pos(top), pos(bottom)], [pos(left), pos(right)], [0, 0]], constantValue: value,
    });
  }
  return t;
}

/**
 * Stride-1 NHWC convolution (XNNPACK) with any explicit padding, negative meaning a crop. Returns null
 * when the crop leaves no input (every window lies in the padding: the result is all zeros).
 */
function convExplicit(
  run: Run, x: TensorInfo, filter: TensorInfo, pads: number[], dilations: [number, number],
): TensorInfo | null {
  const [top, bottom, left, right] = pads;
  const input = padOrCrop(run, x, pads.map((v) => Math.min(0, v)), 0);
  if (input == null) return null;
  const p = (v: number) => Math.max(0, v);
  return run("Conv2D", { x: input, filter }, {
    strides: [1, 1],
    pad: [[0, 0], [p(top), p(bottom)], [p(left), p(right)], [0, 0]],
    dataFormat: "NHWC",
    dilations,
    dimRoundingMode: undefined,
  });
}

// ---------------------------------------------------------------------------------------------------
// Conv2DBackpropFilter

function makeConv2DBackpropFilter(stock: Stock): KernelFunc {
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
      throw new Error(`Conv2DBackpropFilter (wasm): dy shape ${dy.shape} does not match the conv output ${info.outShape}`);
    }
    if (filterShape[2] !== info.inChannels) {
      throw new Error(`Conv2DBackpropFilter (wasm): filterShape ${filterShape} does not match x's ${info.inChannels} channels`);
    }
    const { inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW, outHeight: OH, outWidth: OW } = info;
    const { strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    return composed(stock, backend as KernelBackend, (run) => {
      if (sizeOf(x.shape) === 0 || sizeOf(dy.shape) === 0) {
        return run("Fill", {}, { shape: filterShape, value: 0, dtype: "float32" });
      }
      if (channelsLast && sh === 1 && sw === 1 && info.inChannels === 1) return filterGradSingleChannel(run, x, dy, info);
      // x -> [Ci, H, W, B] (batch Ci, channels B); dy -> [OH, OW, B, Co] (the "filter").
      const xT = run("Transpose", { x }, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] });
      const dyT = run("Transpose", { x: dy }, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] });
      // Output rows: H + top + bottom - (OH-1)*sh must equal KH.
      const bottom = KH - H - top + (OH - 1) * sh;
      const right = KW - W - left + (OW - 1) * sw;
      const g = convExplicit(run, xT, dyT, [top, bottom, left, right], [sh, sw]); // [Ci, KH, KW, Co]
      if (g == null) return run("Fill", {}, { shape: filterShape, value: 0, dtype: "float32" });
      return run("Transpose", { x: g }, { perm: [1, 2, 0, 3] });
    });
  };
}

/**
 * The filter gradient of a stride-1 NHWC convolution over ONE input channel (a network's first layer on
 * grey images) as a plain product: dW [KH·KW, Co] = patches [KH·KW, B·OH·OW] · dy [B·OH·OW, Co], each row of
 * patches x's canvas cropped to one tap's offset (two row-wise slices, contiguous copies). The general
 * form above runs it as a convolution with a B-channel OH×OW "filter" and a KH×KW output, which XNNPACK does
 * at ~1.2–1.6 GFLOP/s for [32,28,28,1]; this takes about half the time (the product itself ~1 ms of ~5).
 */
function filterGradSingleChannel(run: Run, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const { top, left } = info.padInfo;
  const bottom = OH - 1 + KH - H - top;
  const right = OW - 1 + KW - W - left;
  const canvas = padOrCrop(run, x, [top, bottom, left, right], 0); // [B, OH+KH-1, OW+KW-1, 1]
  if (canvas == null) return run("Fill", {}, { shape: [KH, KW, 1, CO], value: 0, dtype: "float32" });
  const rows: TensorInfo[] = [];
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const tap = crop(run, canvas, kh, KH - 1 - kh, kw, KW - 1 - kw); // [B, OH, OW, 1]
      rows.push(run("Reshape", { x: tap }, { shape: [1, B * OH * OW] }));
    }
  }
  const patches = rows.length === 1 ? rows[0] : run("Concat", rows, { axis: 0 });
  const a = run("Reshape", { x: patches }, { shape: [1, KH * KW, B * OH * OW] });
  const b = run("Reshape", { x: dy }, { shape: [1, B * OH * OW, CO] });
  const g = run("BatchMatMul", { a, b }, { transposeA: false, transposeB: false }); // XNNPACK: batch 1, no transposes
  return run("Reshape", { x: g }, { shape: [KH, KW, 1, CO] });
}

// ---------------------------------------------------------------------------------------------------
// Conv2DBackpropInput

function makeConv2DBackpropInput(stock: Stock): KernelFunc {
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
      throw new Error(`Conv2DBackpropInput (wasm): dy shape ${dy.shape} does not match the conv output ${info.outShape}`);
    }
    const { batchSize: B, inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW } = info;
    const { outHeight: OH, outWidth: OW, outChannels: CO, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    return composed(stock, backend as KernelBackend, (run) => {
      if (sizeOf(inputShape) === 0 || sizeOf(dy.shape) === 0) {
        return run("Fill", {}, { shape: inputShape, value: 0, dtype: "float32" });
      }
      let d = channelsLast ? dy : run("Transpose", { x: dy }, { perm: [0, 2, 3, 1] });
      let rows = OH;
      let cols = OW;
      if (sh > 1 || sw > 1) {
        // Zero-insert: [B,OH,1,OW,1,C] padded to [B,OH,sh,OW,sw,C], i.e. dy[oh] lands on row oh*sh.
        const d6 = run("Reshape", { x: d }, { shape: [B, OH, 1, OW, 1, CO] });
        const p6 = run("PadV2", { x: d6 }, {
          paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
        });
        rows = OH * sh;
        cols = OW * sw;
        d = run("Reshape", { x: p6 }, { shape: [B, rows, cols, CO] });
      }
      // Filter [KH,KW,Ci,Co] -> reversed in space, channel axes swapped: [KH,KW,Co,Ci].
      const rev = run("Reverse", { x: filter }, { dims: [0, 1] });
      const f = run("Transpose", { x: rev }, { perm: [0, 1, 3, 2] });
      const padTop = KH - 1 - top;
      const padLeft = KW - 1 - left;
      // Output rows: rows + padTop + padBottom - KH + 1 must equal H.
      const padBottom = H + KH - 1 - rows - padTop;
      const padRight = W + KW - 1 - cols - padLeft;
      const dx = convExplicit(run, d, f, [padTop, padBottom, padLeft, padRight], [1, 1]);
      if (dx == null) return run("Fill", {}, { shape: inputShape, value: 0, dtype: "float32" });
      return channelsLast ? dx : run("Transpose", { x: dx }, { perm: [0, 3, 1, 2] });
    });
  };
}

// ---------------------------------------------------------------------------------------------------
// MaxPoolGrad

/** Largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;

/**
 * dx of max pooling with cpu's semantics: each window's gradient goes to the FIRST element (row-major
 * within the window) equal to the window maximum; padding, NaN and -Infinity never receive any.
 *
 * x is clamped to ±FLT_MAX (NaN and -Infinity become -FLT_MAX, which the padding also uses; a window
 * whose maximum is -FLT_MAX gets no gradient), padded or cropped to the "canvas" the windows cover, and
 * its windows gathered as win [N', KK, C] (N' = B·OH·OW, KK = KH·KW): one rank-4 transpose when windows tile the canvas
 * (stride == filter, e.g. maxPooling2d(2)), strided slices otherwise. Then, with m the window max:
 *   isMax = 1 − Step(m − win);  before = Σ_{earlier j in window} isMax_j  (a depthwise conv along KK);
 *   g = isMax · Step(0.5 − before) · dy   (computed with negated terms, scalars on the right),
 * scattered back to the canvas (the inverse transpose, or shifted sums) and cropped to x. Gradient that
 * lands on padding is cropped away. Only wasm's XNNPACK/C++ kernels are used. (Differences from cpu
 * are limited to ties between +Infinity and FLT_MAX, or a window whose real maximum is exactly -FLT_MAX.)
 */
function makeMaxPoolGrad(stock: Stock): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, input: x } = inputs as { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
    requireFloat32("MaxPoolGrad", dy, x);
    const info = backend_util.computePool2DInfo(
      x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode,
    );
    if (!sameShape(dy.shape, info.outShape)) {
      throw new Error(`MaxPoolGrad (wasm): dy shape ${dy.shape} does not match the pool output ${info.outShape}`);
    }
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const KK = KH * KW;
    const Np = B * OH * OW;
    return composed(stock, backend as KernelBackend, (run) => {
      const zeros = () => run("Fill", {}, { shape: x.shape, value: 0, dtype: "float32" });
      if (sizeOf(x.shape) === 0 || sizeOf(dy.shape) === 0) return zeros();
      // Canvas rows [-top, spanH - top) of x, i.e. exactly the rows the windows cover.
      const spanH = (OH - 1) * sh + KH;
      const spanW = (OW - 1) * sw + KW;
      const xc = run("ClipByValue", { x }, { clipValueMin: -FLT_MAX, clipValueMax: FLT_MAX });
      const canvas = padOrCrop(run, xc, [top, spanH - top - H, left, spanW - left - W], -FLT_MAX, true);
      if (canvas == null) return zeros();
      const tiles = sh === KH && sw === KW;
      let win: TensorInfo; // [Np, KK, C]
      if (tiles) {
        const c4 = run("Reshape", { x: canvas }, { shape: [B * OH, KH, OW, KW * C] });
        win = run("Reshape", { x: run("Transpose", { x: c4 }, { perm: [0, 2, 1, 3] }) }, { shape: [Np, KK, C] });
      } else {
        const pieces: TensorInfo[] = [];
        for (let fh = 0; fh < KH; fh++) {
          for (let fw = 0; fw < KW; fw++) {
            const piece = run("StridedSlice", { x: canvas }, {
              begin: [0, fh, fw, 0], end: [B, fh + (OH - 1) * sh + 1, fw + (OW - 1) * sw + 1, C], strides: [1, sh, sw, 1],
              beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
            });
            pieces.push(run("Reshape", { x: piece }, { shape: [Np, 1, C] }));
          }
        }
        win = KK === 1 ? pieces[0] : run("Concat", pieces, { axis: 1 });
      }
      // Window max. XNNPACK's MaxPool is exact for 'valid'/'same' (it ignores padding); for numeric pads
      // its output size can disagree with tfjs's, so reduce the gathered windows instead.
      const m = typeof pad === "string"
        ? run("Reshape", { x: run("MaxPool", { x: xc }, { filterSize, strides, pad, dimRoundingMode }) }, { shape: [Np, 1, C] })
        : run("Max", { x: win }, { reductionIndices: [1], keepDims: true });
      // (Scalars go on the right: wasm's binary kernels are far slower with a broadcast left operand.)
      const scalar = (value: number) => run("Fill", {}, { shape: [], value, dtype: "float32" });
      // Windows whose maximum is -FLT_MAX (only padding / -Infinity / NaN, as far as cpu can tell) get
      // none. negDy = -dy (the sign is undone by negIsMax below).
      const valid = run("Step", { x: run("Sub", { a: m, b: scalar(-FLT_MAX) }) }, { alpha: 0 });
      const negDy = run("Multiply", { a: run("Reshape", { x: dy }, { shape: [Np, 1, C] }), b: run("Multiply", { a: valid, b: scalar(-1) }) });
      const below = run("Step", { x: run("Sub", { a: m, b: win }) }, { alpha: 0 }); // 1 where win < m
      const negIsMax = run("Sub", { a: below, b: scalar(1) }); // -1 where win == m
      let negFirst = negIsMax;
      if (KK > 1) {
        // -before[k] = Σ_{j<k} negIsMax[j]: causal depthwise conv along the KK axis, taps [1,..,1,0].
        const ones = run("Fill", {}, { shape: [KK - 1, 1, C, 1], value: 1, dtype: "float32" });
        const taps = run("PadV2", { x: ones }, { paddings: [[0, 1], [0, 0], [0, 0], [0, 0]], constantValue: 0 });
        const negBefore = run("DepthwiseConv2dNative", { x: run("Reshape", { x: negIsMax }, { shape: [Np, KK, 1, C] }), filter: taps }, {
          strides: [1, 1], pad: [[0, 0], [KK - 1, 0], [0, 0], [0, 0]], dilations: [1, 1], dimRoundingMode: undefined,
        });
        // 1 where no earlier element of the window is a maximum.
        const none = run("Step", { x: run("Add", { a: run("Reshape", { x: negBefore }, { shape: [Np, KK, C] }), b: scalar(0.5) }) }, { alpha: 0 });
        negFirst = run("Multiply", { a: negIsMax, b: none });
      }
      const g = run("Multiply", { a: negFirst, b: negDy }); // [Np, KK, C]

      let canvasGrad: TensorInfo; // [B, spanH, spanW, C]
      if (tiles) {
        const g4 = run("Reshape", { x: g }, { shape: [B * OH, OW, KH, KW * C] });
        canvasGrad = run("Reshape", { x: run("Transpose", { x: g4 }, { perm: [0, 2, 1, 3] }) }, { shape: [B, spanH, spanW, C] });
      } else {
        const g2 = run("Reshape", { x: g }, { shape: [Np, KK * C] });
        const terms: TensorInfo[] = [];
        for (let fh = 0; fh < KH; fh++) {
          for (let fw = 0; fw < KW; fw++) {
            const k = fh * KW + fw;
            const gk = run("Slice", { x: g2 }, { begin: [0, k * C], size: [Np, C] });
            let t = run("Reshape", { x: gk }, { shape: [B, OH, OW, C] });
            if (sh > 1 || sw > 1) {
              // Zero-insert: window (oh, ow) lands on row oh*sh, column ow*sw.
              const t6 = run("Reshape", { x: t }, { shape: [B, OH, 1, OW, 1, C] });
              const p6 = run("PadV2", { x: t6 }, {
                paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
              });
              t = run("Reshape", { x: p6 }, { shape: [B, OH * sh, OW * sw, C] });
            }
            // Canvas row of window oh, offset fh: oh*sh + fh.
            const placed = padOrCrop(run, t, [fh, spanH - fh - OH * sh, fw, spanW - fw - OW * sw], 0);
            if (placed != null) terms.push(placed);
          }
        }
        canvasGrad = terms.length === 1 ? terms[0] : run("AddN", terms);
      }
      return padOrCrop(run, canvasGrad, [-top, H - (spanH - top), -left, W - (spanW - left)], 0) ?? zeros();
    });
  };
}

// ---------------------------------------------------------------------------------------------------
// BatchMatMul

/**
 * Routes the products stock wasm would run in its scalar loop to its XNNPACK path (which needs no
 * transposes and batch 1) by transposing operands explicitly, then folding a's batch into its rows when
 * b is not batched, or running batch slice by slice when both are (wasmSliceMatMul.ts). Broadcast batch
 * dimensions with a batched b stay on the stock kernel.
 */
function makeBatchMatMul(stock: Stock): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const aRank = a.shape.length;
    const bRank = b.shape.length;
    const batchA = sizeOf(a.shape.slice(0, -2));
    const batchB = sizeOf(b.shape.slice(0, -2));
    const M = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
    const Ka = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
    const Kb = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
    const N = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
    const slices = batchB !== 1 && sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2)) && canSliceMatMul(backend);
    const useStock =
      a.dtype !== "float32" || b.dtype !== "float32" || aRank < 2 || bRank < 2 || Ka !== Kb ||
      (batchB !== 1 && !slices) || (!transposeA && !transposeB && batchA === 1) || sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0;
    if (useStock) return stock.BatchMatMul(args);
    const K = Ka;
    const outShape = [
      ...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N,
    ];
    const rows = batchA * M;
    const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
    const noTranspose = { transposeA: false, transposeB: false };
    if (slices) {
      return composed(stock, backend as KernelBackend, (run) => {
        const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a; // [..., M, K]
        const b2 = transposeB ? run("Transpose", { x: b }, { perm: swapLast(bRank) }) : b; // [..., K, N]
        const out = (backend as unknown as { makeOutput(shape: number[], dtype: "float32"): TensorInfo }).makeOutput(outShape, "float32");
        try {
          sliceMatMul(backend, a2, b2, out, batchA, M, K, N);
        } catch (e) {
          (backend as KernelBackend).disposeData(out.dataId);
          throw e;
        }
        return out;
      });
    }
    return composed(stock, backend as KernelBackend, (run) => {
      if (transposeB && N > rows) {
        // out^T [N, rows] = B [N, K] · A^T [K, rows]: the small A^T is the packed operand.
        let aT: TensorInfo; // [1, K, rows]
        if (transposeA && batchA === 1) {
          // A copy: XNNPACK caches the packed operand by tensor id, and a's id may later be read with
          // another shape (tf.reshape shares ids); fresh ids keep that cache from going stale.
          aT = run("Reshape", { x: run("Identity", { x: a }) }, { shape: [1, K, rows] });
        } else {
          const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a;
          const a2d = run("Reshape", { x: a2 }, { shape: [rows, K] });
          aT = run("Reshape", { x: run("Transpose", { x: a2d }, { perm: [1, 0] }) }, { shape: [1, K, rows] });
        }
        const b3 = run("Reshape", { x: b }, { shape: [1, N, K] });
        const outT = run("BatchMatMul", { a: b3, b: aT }, noTranspose); // [1, N, rows]
        const out = run("Transpose", { x: outT }, { perm: [0, 2, 1] });
        return run("Reshape", { x: out }, { shape: outShape });
      }
      // out [rows, N] = A [rows, K] · B [K, N]
      const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a;
      const a3 = run("Reshape", { x: a2 }, { shape: [1, rows, K] });
      const b2 = transposeB ? run("Transpose", { x: b }, { perm: swapLast(bRank) }) : b;
      const b3 = run("Reshape", { x: b2 }, { shape: [1, K, N] });
      const out = run("BatchMatMul", { a: a3, b: b3 }, noTranspose);
      return run("Reshape", { x: out }, { shape: outShape });
    });
  };
}

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
  [ADAM_KERNEL]: () => adamKernel(jsAdamUpdate),
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
