/**
 * The fused conv-block kernels (convPoolKernelNames.ts) on backend 'wasm', computed by the native addon
 * (src/conv_pool.cc) directly on the wasm heap. registerNativeKernels puts them in place of the
 * JavaScript ones registerWasmTrainingKernels installs (../wasmConvPool.ts).
 */
import { util } from "@tensorflow/tfjs-core";
import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "../convPoolKernelNames.js";
import { float32View, int32View, requireFloat32, withHeapOutputs } from "../wasmHeap.js";
import { convGeometry, type ConvPad } from "./convGeometry.js";
import type { ConvGeometry, NativeAddon } from "./nativeAddon.js";

type Inputs = Record<string, TensorInfo>;

/** The block's conv geometry (stride 1, no dilation) and pooled shape; throws on what the kernel cannot do. */
function blockGeometry(kernel: string, x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap): { g: ConvGeometry; pooled: number[] } {
  const pad = attrs.pad as ConvPad;
  if (pad !== "valid" && pad !== "same") throw new Error(`${kernel}: pad must be 'valid' or 'same', got ${String(pad)}`);
  const conv = convGeometry(x.shape, filter.shape, { strides: 1, pad }, 1);
  if (!conv) throw new Error(`${kernel}: x [${x.shape}] and filter [${filter.shape}] are not an NHWC convolution`);
  const [n, oh, ow, oc] = conv.info.outShape;
  if (oh < 2 || ow < 2) throw new Error(`${kernel}: the conv output ${oh}x${ow} is smaller than the 2x2 pooling window`);
  return { g: conv.g, pooled: [n, Math.floor(oh / 2), Math.floor(ow / 2), oc] };
}

/** The conv-block kernels, by name. */
export function convPoolKernels(addon: NativeAddon): Record<string, KernelFunc> {
  return {
    [CONV_POOL_KERNEL]: ({ inputs, backend, attrs }) => {
      const { x, filter, bias } = inputs as Inputs;
      requireFloat32(CONV_POOL_KERNEL, x, filter, bias);
      const { g, pooled } = blockGeometry(CONV_POOL_KERNEL, x, filter, attrs ?? {});
      if (util.sizeFromShape(bias.shape) !== g[6]) throw new Error(`${CONV_POOL_KERNEL}: bias [${bias.shape}] does not match ${g[6]} filters`);
      return withHeapOutputs(
        backend,
        [pooled, pooled],
        ([y, argmax]) => {
          const f32 = (t: TensorInfo) => float32View(backend, t);
          addon.convPool(f32(x), f32(filter), f32(bias), f32(y), int32View(backend, argmax), g);
        },
        ["float32", "int32"],
      );
    },
    [CONV_POOL_GRAD_KERNEL]: ({ inputs, backend, attrs }) => {
      const { dy, x, filter, y, argmax } = inputs as Inputs;
      requireFloat32(CONV_POOL_GRAD_KERNEL, dy, x, filter, y);
      const { g, pooled } = blockGeometry(CONV_POOL_GRAD_KERNEL, x, filter, attrs ?? {});
      for (const t of [dy, y, argmax]) {
        if (!util.arraysEqual(t.shape, pooled)) throw new Error(`${CONV_POOL_GRAD_KERNEL}: expected [${pooled}], got [${t.shape}]`);
      }
      if (argmax.dtype !== "int32") throw new Error(`${CONV_POOL_GRAD_KERNEL}: argmax must be int32, got ${argmax.dtype}`);
      const withInput = attrs?.inputGradient === true;
      const shapes = [[...filter.shape], [g[6]], ...(withInput ? [[...x.shape]] : [])];
      return withHeapOutputs(backend, shapes, ([dfilter, dbias, dx]) => {
        const f32 = (t: TensorInfo) => float32View(backend, t);
        addon.convPoolGrad(f32(dy), f32(x), f32(filter), f32(y), int32View(backend, argmax), f32(dfilter), f32(dbias), dx ? f32(dx) : null, g);
      });
    },
  };
}
