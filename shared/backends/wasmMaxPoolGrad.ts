/**
 * MaxPoolGrad on wasm with cpu's semantics (stock wasm's starts its search from FLT_MIN, so a window whose
 * values are all <= 0 gets no gradient, and it breaks ties the other way). Two forms, each the fast one for
 * its case: windows that tile the input (stride == filter, e.g. maxPooling2d(2)) as a composition of
 * XNNPACK kernels; every other layout (overlapping 3x3/2 windows, gaps) as a JavaScript loop on the wasm
 * heap, which there is ~25x faster than the composition's shifted sums (12 vs 290 ms for [32,14,14,64]).
 */
import { backend_util } from "@tensorflow/tfjs-core";
import type { KernelBackend, KernelFunc, MaxPoolGradAttrs, TensorInfo } from "@tensorflow/tfjs-core";
import { composed, padOrCrop, sameShape, sizeOf, type Stock } from "./wasmComposed.js";
import { executeOnHeap, requireFloat32 } from "./wasmHeap.js";

/** Largest finite float32. */
const FLT_MAX = 3.4028234663852886e38;

/**
 * dx of max pooling with cpu's semantics: each window's gradient goes to the FIRST element (row-major
 * within the window) equal to the window maximum; padding, NaN and -Infinity never receive any.
 *
 * Tiling windows: x is clamped to ±FLT_MAX (NaN and -Infinity become -FLT_MAX, which the padding also
 * uses; a window whose maximum is -FLT_MAX gets no gradient), padded or cropped to the "canvas" the windows
 * cover, and its windows gathered as win [N', KK, C] (N' = B·OH·OW, KK = KH·KW) by one rank-4 transpose.
 * Then, with m the window max:
 *   isMax = 1 − Step(m − win);  before = Σ_{earlier j in window} isMax_j  (a depthwise conv along KK);
 *   g = isMax · Step(0.5 − before) · dy   (computed with negated terms, scalars on the right),
 * scattered back to the canvas (the inverse transpose) and cropped to x. Gradient that
 * lands on padding is cropped away. Only wasm's XNNPACK/C++ kernels are used. (Differences from cpu
 * are limited to ties between +Infinity and FLT_MAX, or a window whose real maximum is exactly -FLT_MAX.)
 */
export function makeMaxPoolGrad(stock: Stock): KernelFunc {
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
    if (sh !== KH || sw !== KW) return executeOnHeap(backend, [x.shape], ([dx], view) => maxPoolGradLoop(dx, view(x), view(dy), info))[0];
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
      const c4 = run("Reshape", { x: canvas }, { shape: [B * OH, KH, OW, KW * C] });
      const win = run("Reshape", { x: run("Transpose", { x: c4 }, { perm: [0, 2, 1, 3] }) }, { shape: [Np, KK, C] });
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

      const g4 = run("Reshape", { x: g }, { shape: [B * OH, OW, KH, KW * C] });
      const canvasGrad = run("Reshape", { x: run("Transpose", { x: g4 }, { perm: [0, 2, 1, 3] }) }, { shape: [B, spanH, spanW, C] });
      return padOrCrop(run, canvasGrad, [-top, H - (spanH - top), -left, W - (spanW - left)], 0) ?? zeros();
    });
  };
}

/**
 * The same gradient as a loop over channels-last data, with exactly cpu's semantics: each window's gradient
 * goes to the first element greater than every earlier one, starting from -Infinity; where windows overlap,
 * a position's gradients are summed in float64 in window order and rounded once.
 */
function maxPoolGradLoop(dx: Float32Array, x: Float32Array, dy: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const sums = new Float64Array(dx.length);
  const best = new Float64Array(C);
  const at = new Int32Array(C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - top;
      const rEnd = Math.min(H, r0 + KH);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - left;
        const cEnd = Math.min(W, c0 + KW);
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = Math.max(0, r0); r < rEnd; r++) {
          for (let c = Math.max(0, c0); c < cEnd; c++) {
            const base = ((b * H + r) * W + c) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = x[base + ch];
              if (v > best[ch]) {
                best[ch] = v;
                at[ch] = base + ch;
              }
            }
          }
        }
        const g = ((b * OH + oh) * OW + ow) * C;
        for (let ch = 0; ch < C; ch++) if (at[ch] >= 0) sums[at[ch]] += dy[g + ch];
      }
    }
  }
  dx.set(sums);
}
