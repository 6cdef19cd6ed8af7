/**
 * The conv-block kernels (convPoolKernelNames.ts) on plain wasm, where the native addon is not built.
 * tfjs runs the block's backward pass there as MaxPoolGrad (a composition of ~20 wasm kernels), Step,
 * Multiply, Sum and the composed filter gradient, ~22 ms of a 29 ms `cnn` step; this is:
 *   forward:  XNNPACK's FusedConv2D (conv + bias + ReLU), then the 2x2 pooling and its argmax in JavaScript;
 *   backward: for a first layer (KH·KW·C ≤ 32, no input gradient) the filter and bias gradients straight
 *             from the pooled gradient, the winning positions and the input block each window covers, in
 *             JavaScript; otherwise dz scattered in JavaScript, then the project's composed conv gradients.
 * Sums in float64; the same semantics as the native kernels (the first maximum wins, NaN never does, the
 * gradient passes where the pooled value is > 0).
 */
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { convPoolForwardInputs, convPoolGradInputs, type ConvPoolBlock } from "./convPoolBlock.js";
import type { Stock } from "./wasmComposed.js";
import { makeConv2DBackpropFilter, makeConv2DBackpropInput } from "./wasmConvGradients.js";
import { float32View, int32View, withHeapOutputs } from "./wasmHeap.js";

type Block = ConvPoolBlock;

/** The direct backward covers a first layer: few input taps, no input gradient. */
const DIRECT_MAX_TAPS = 32;

export function makeConvPool(stock: Stock): KernelFunc {
  return function convPoolOverXnnpack({ inputs, backend, attrs }) {
    const { x, filter, bias, block: b } = convPoolForwardInputs(inputs as Record<string, TensorInfo>, attrs);
    const be = backend as KernelBackend;
    const z = stock.FusedConv2D({
      inputs: { x, filter, bias },
      attrs: { strides: [1, 1], pad: b.pad, dataFormat: "NHWC", dilations: [1, 1], dimRoundingMode: undefined, activation: "relu" } as unknown as NamedAttrMap,
      backend,
    }) as TensorInfo;
    try {
      return withHeapOutputs(
        backend,
        [b.pooled, b.pooled],
        ([y, argmax]) => pool(float32View(backend, z), float32View(backend, y), int32View(backend, argmax), b),
        ["float32", "int32"],
      );
    } finally {
      be.disposeData(z.dataId);
    }
  };
}

/** y and argmax from the ReLU'd conv output z: the first maximum of each 2x2 window; NaN never wins. */
function pool(z: Float32Array, y: Float32Array, argmax: Int32Array, b: Block): void {
  const { oc, ow } = b;
  const rowStride = ow * oc;
  let out = 0;
  for (let n = 0; n < b.n; n++) {
    for (let ph = 0; ph < b.ph; ph++) {
      for (let pw = 0; pw < b.pw; pw++) {
        const q0 = ((n * b.oh + 2 * ph) * ow + 2 * pw) * oc;
        for (let c = 0; c < oc; c++, out++) {
          const q = q0 + c;
          let best = -Infinity;
          let where = 0;
          const v0 = z[q];
          const v1 = z[q + oc];
          const v2 = z[q + rowStride];
          const v3 = z[q + rowStride + oc];
          if (v0 > best) best = v0;
          if (v1 > best) { best = v1; where = 1; }
          if (v2 > best) { best = v2; where = 2; }
          if (v3 > best) { best = v3; where = 3; }
          y[out] = best;
          argmax[out] = where;
        }
      }
    }
  }
}

export function makeConvPoolGrad(stock: Stock): KernelFunc {
  const filterGradient = makeConv2DBackpropFilter(stock);
  const inputGradient = makeConv2DBackpropInput(stock);
  return ({ inputs, backend, attrs }) => {
    const { dy, x, filter, y, argmax, block: b, inputGradient: withInput } = convPoolGradInputs(inputs as Record<string, TensorInfo>, attrs);
    const be = backend as KernelBackend;
    if (!withInput && b.kh * b.kw * b.c <= DIRECT_MAX_TAPS) {
      return withHeapOutputs(backend, [[...filter.shape], [b.oc]], ([dfilter, dbias]) => {
        const f32 = (t: TensorInfo) => float32View(backend, t);
        directGradients(f32(dy), f32(x), f32(y), int32View(backend, argmax), b, f32(dfilter), f32(dbias));
      });
    }
    // dz (the conv output's gradient) scattered here, then the composed conv gradients.
    const [dz, dbias] = withHeapOutputs(backend, [[b.n, b.oh, b.ow, b.oc], [b.oc]], ([dzInfo, dbInfo]) =>
      scatter(float32View(backend, dy), float32View(backend, y), int32View(backend, argmax), b, float32View(backend, dzInfo), float32View(backend, dbInfo)),
    );
    let dfilter: TensorInfo | undefined;
    try {
      const convAttrs = { strides: [1, 1], pad: b.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
      dfilter = filterGradient({ inputs: { x, dy: dz }, attrs: { ...convAttrs, filterShape: filter.shape } as unknown as NamedAttrMap, backend }) as TensorInfo;
      if (!withInput) return [dfilter, dbias];
      const dx = inputGradient({ inputs: { dy: dz, filter }, attrs: { ...convAttrs, inputShape: x.shape } as unknown as NamedAttrMap, backend }) as TensorInfo;
      return [dfilter, dbias, dx];
    } catch (e) {
      be.disposeData(dbias.dataId);
      if (dfilter) be.disposeData(dfilter.dataId);
      throw e;
    } finally {
      be.disposeData(dz.dataId);
    }
  };
}

/** dz = each pooled gradient at its winning position where the pooled value is > 0, else 0; db = Σ dz. */
function scatter(dy: Float32Array, y: Float32Array, argmax: Int32Array, b: Block, dz: Float32Array, db: Float32Array): void {
  dz.fill(0);
  const sums = new Float64Array(b.oc);
  const rowStride = b.ow * b.oc;
  let out = 0;
  for (let n = 0; n < b.n; n++) {
    for (let ph = 0; ph < b.ph; ph++) {
      for (let pw = 0; pw < b.pw; pw++) {
        const q0 = ((n * b.oh + 2 * ph) * b.ow + 2 * pw) * b.oc;
        for (let c = 0; c < b.oc; c++, out++) {
          if (!(y[out] > 0)) continue;
          const a = argmax[out];
          dz[q0 + c + (a >> 1) * rowStride + (a & 1) * b.oc] = dy[out];
          sums[c] += dy[out];
        }
      }
    }
  }
  for (let c = 0; c < b.oc; c++) db[c] = sums[c];
}

/**
 * The filter and bias gradients of a block with few input taps: for each window, its (KH+1)x(KW+1)xC
 * input block, and each channel's pooled gradient times the patch of its winning position.
 */
function directGradients(dy: Float32Array, x: Float32Array, y: Float32Array, argmax: Int32Array, b: Block, dw: Float32Array, db: Float32Array): void {
  const { c: C, kh: KH, kw: KW, oc: OC } = b;
  const KC = KH * KW * C;
  const rowLen = (KW + 1) * C;
  // offsets[pos * KC + k]: where patch element k = (kh, kw, c) of window position pos sits in the block.
  const offsets = new Int32Array(4 * KC);
  for (let pos = 0; pos < 4; pos++) {
    let k = 0;
    for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) for (let ch = 0; ch < C; ch++) offsets[pos * KC + k++] = (i + (pos >> 1)) * rowLen + (j + (pos & 1)) * C + ch;
  }
  const block = new Float64Array((KH + 1) * rowLen);
  const sums = new Float64Array(KC * OC);
  const biasSums = new Float64Array(OC);
  let out = 0;
  for (let n = 0; n < b.n; n++) {
    const xn = n * b.h * b.w * C;
    for (let ph = 0; ph < b.ph; ph++) {
      for (let pw = 0; pw < b.pw; pw++, out += OC) {
        const ih0 = 2 * ph - b.pt;
        const iw0 = 2 * pw - b.pl;
        for (let r = 0; r <= KH; r++) {
          const ih = ih0 + r;
          for (let col = 0; col <= KW; col++) {
            const iw = iw0 + col;
            const inside = ih >= 0 && ih < b.h && iw >= 0 && iw < b.w;
            const src = xn + (ih * b.w + iw) * C;
            for (let ch = 0; ch < C; ch++) block[r * rowLen + col * C + ch] = inside ? x[src + ch] : 0;
          }
        }
        for (let c = 0; c < OC; c++) {
          const o = out + c;
          if (!(y[o] > 0)) continue;
          const v = dy[o];
          biasSums[c] += v;
          const base = argmax[o] * KC;
          for (let k = 0; k < KC; k++) sums[k * OC + c] += v * block[offsets[base + k]];
        }
      }
    }
  }
  for (let i = 0; i < sums.length; i++) dw[i] = sums[i];
  for (let c = 0; c < OC; c++) db[c] = biasSums[c];
}

