/**
 * The conv-block kernels (convPoolKernelNames.ts) on plain wasm, where the native addon is not built.
 * tfjs runs the block's backward pass there as MaxPoolGrad (a composition of ~20 wasm kernels), Step,
 * Multiply, Sum and the composed filter gradient; here each pass is one call into the project's
 * WebAssembly SIMD kernels (shared/backends/simd/), on copies of the tensors (the kernels have a memory of
 * their own):
 *   forward:  a first layer (few input taps) by the kernels' direct path; any other block as XNNPACK's
 *             FusedConv2D (conv + bias + ReLU), then the 2x2 pooling and its argmax in JavaScript;
 *   backward: a first layer's filter and bias gradients by the direct path; any other block's, with the
 *             input's gradient, from the winning positions alone (the dense conv gradients would spend
 *             three quarters of their work on zeros).
 * The same semantics as the native kernels (the first maximum wins, NaN never does, the gradient passes
 * where the pooled value is > 0).
 */
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { convPoolForwardInputs, convPoolGradInputs, type ConvPoolBlock } from "./convPoolBlock.js";
import { copyIn, scratchOrThrow } from "./simd/onHeap.js";
import { simdCoversConvPool } from "./simd/simdKernels.js";
import type { Stock } from "./wasmComposed.js";
import { float32View, int32View, withHeapOutputs } from "./wasmHeap.js";

type Block = ConvPoolBlock;

const simd = (floats: number) => scratchOrThrow("wasm conv block", floats);

export function makeConvPool(stock: Stock): KernelFunc {
  return function convPoolPlainWasm({ inputs, backend, attrs }) {
    const { x, filter, bias, block: b } = convPoolForwardInputs(inputs as Record<string, TensorInfo>, attrs);
    const f32 = (t: TensorInfo) => float32View(backend, t);
    if (simdCoversConvPool(b, false)) {
      return withHeapOutputs(
        backend,
        [b.pooled, b.pooled],
        ([y, argmax]) => {
          const [xs, ws, bs, ys, as] = [f32(x), f32(filter), f32(bias), f32(y), int32View(backend, argmax)];
          const k = simd(xs.length + ws.length + bs.length + 2 * ys.length);
          const [ky, ka] = [k.float32(ys.length), k.int32(as.length)];
          k.convPool(copyIn(k, xs), copyIn(k, ws), copyIn(k, bs), ky, ka, b);
          ys.set(ky);
          as.set(ka);
        },
        ["float32", "int32"],
      );
    }
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
        ([y, argmax]) => pool(f32(z), f32(y), int32View(backend, argmax), b),
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

export function makeConvPoolGrad(): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, x, filter, y, argmax, block: b, inputGradient } = convPoolGradInputs(inputs as Record<string, TensorInfo>, attrs);
    const shapes = [[...filter.shape], [b.oc], ...(inputGradient ? [[...x.shape]] : [])];
    return withHeapOutputs(backend, shapes, ([dfilter, dbias, dx]) => {
      const f32 = (t: TensorInfo) => float32View(backend, t);
      const [dys, xs, ws, ys, as] = [f32(dy), f32(x), f32(filter), f32(y), int32View(backend, argmax)];
      // Inputs, outputs, and the general path's working memory (2·OC + 2·OC·taps).
      const k = simd(2 * dys.length + 2 * xs.length + 2 * ys.length + 4 * ws.length + 3 * b.oc + (dx ? xs.length : 0));
      const [kdw, kdb, kdx] = [k.float32(ws.length), k.float32(b.oc), dx ? k.float32(xs.length) : null];
      k.convPoolGrad(copyIn(k, dys), copyIn(k, xs), copyIn(k, ws), copyIn(k, ys), copyIn(k, as), kdw, kdb, kdx, b);
      f32(dfilter).set(kdw);
      f32(dbias).set(kdb);
      if (dx && kdx) f32(dx).set(kdx);
    });
  };
}
