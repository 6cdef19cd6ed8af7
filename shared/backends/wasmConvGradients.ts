/**
 * The convolution gradients on wasm, composed of its XNNPACK convolution (stock wasm has no filter
 * gradient at all, and its input gradient is a scalar loop, 15-30x slower than the forward conv).
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
import { backend_util } from "@tensorflow/tfjs-core";
import type { Conv2DBackpropFilterAttrs, Conv2DBackpropInputAttrs, KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { composed, crop, padOrCrop, sameShape, sizeOf, type Run, type Stock } from "./wasmComposed.js";
import { requireFloat32 } from "./wasmHeap.js";

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

type Shape4 = [number, number, number, number];

/**
 * The forward conv's geometry, as both gradients see it: its data format and tfjs's Conv2DInfo, checked
 * against the shape of the dy the kernel was given.
 */
function convInfo(
  kernel: string, xShape: Shape4, filterShape: Shape4, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
) {
  const channelsLast = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? "NHWC") === "channelsLast";
  const info = backend_util.computeConv2DInfo(
    xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, channelsLast ? "channelsLast" : "channelsFirst",
  );
  if (!sameShape(dy.shape, info.outShape)) {
    throw new Error(`${kernel} (wasm): dy shape ${dy.shape} does not match the conv output ${info.outShape}`);
  }
  return { channelsLast, info };
}

// ---------------------------------------------------------------------------------------------------
// Conv2DBackpropFilter

export function makeConv2DBackpropFilter(stock: Stock): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const conv = attrs as unknown as Conv2DBackpropFilterAttrs;
    const { filterShape } = conv;
    requireFloat32("Conv2DBackpropFilter", x, dy);
    const { channelsLast, info } = convInfo("Conv2DBackpropFilter", x.shape as Shape4, filterShape, dy, conv);
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

export function makeConv2DBackpropInput(stock: Stock): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const conv = attrs as unknown as Conv2DBackpropInputAttrs;
    const { inputShape } = conv;
    requireFloat32("Conv2DBackpropInput", dy, filter);
    const { channelsLast, info } = convInfo("Conv2DBackpropInput", inputShape, filter.shape as Shape4, dy, conv);
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
