/**
 * The fused conv-block kernels (convPoolKernelNames.ts) on backend 'wasm', computed by the native addon
 * (src/conv_pool.cc) directly on the wasm heap. registerNativeKernels puts them in place of the
 * JavaScript ones registerWasmTrainingKernels installs (../wasmConvPool.ts).
 */
import type { KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { convPoolForwardInputs, convPoolGradInputs, type ConvPoolBlock } from "../convPoolBlock.js";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "../convPoolKernelNames.js";
import { float32View, int32View, withHeapOutputs } from "../wasmHeap.js";
import type { ConvGeometry, NativeAddon } from "./nativeAddon.js";

type Inputs = Record<string, TensorInfo>;

/** The block's stride-1 conv as the addon's geometry. */
export const blockGeometry = (b: ConvPoolBlock): ConvGeometry => [b.n, b.h, b.w, b.c, b.kh, b.kw, b.oc, 1, 1, 1, 1, b.pt, b.pl, b.oh, b.ow];

/** The conv-block kernels, by name. */
export function convPoolKernels(addon: NativeAddon): Record<string, KernelFunc> {
  return {
    [CONV_POOL_KERNEL]: ({ inputs, backend, attrs }) => {
      const { x, filter, bias, block } = convPoolForwardInputs(inputs as Inputs, attrs);
      return withHeapOutputs(
        backend,
        [block.pooled, block.pooled],
        ([y, argmax]) => {
          const f32 = (t: TensorInfo) => float32View(backend, t);
          addon.convPool(f32(x), f32(filter), f32(bias), f32(y), int32View(backend, argmax), blockGeometry(block));
        },
        ["float32", "int32"],
      );
    },
    [CONV_POOL_GRAD_KERNEL]: ({ inputs, backend, attrs }) => {
      const { dy, x, filter, y, argmax, block, inputGradient } = convPoolGradInputs(inputs as Inputs, attrs);
      const shapes = [[...filter.shape], [block.oc], ...(inputGradient ? [[...x.shape]] : [])];
      return withHeapOutputs(backend, shapes, ([dfilter, dbias, dx]) => {
        const f32 = (t: TensorInfo) => float32View(backend, t);
        addon.convPoolGrad(f32(dy), f32(x), f32(filter), f32(y), int32View(backend, argmax), f32(dfilter), f32(dbias), dx ? f32(dx) : null, blockGeometry(block));
      });
    },
  };
}
