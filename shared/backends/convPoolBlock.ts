/**
 * What both implementations of the conv-block kernels (native/convPoolKernels.ts, wasmConvPool.ts) check
 * and derive from their inputs: tfjs's geometry of the block's stride-1 conv, and the pooled shape.
 */
import { backend_util, util } from "@tensorflow/tfjs-core";
import type { NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "./convPoolKernelNames.js";
import { requireFloat32 } from "./wasmHeap.js";

/** NHWC input [n, h, w, c], filter [kh, kw, c, oc], conv output [n, oh, ow, oc] padded pt/pl, pooled [n, ph, pw, oc]. */
export interface ConvPoolBlock {
  n: number; h: number; w: number; c: number; kh: number; kw: number; oc: number;
  pt: number; pl: number; oh: number; ow: number; ph: number; pw: number;
  pad: "valid" | "same";
  pooled: number[];
}

type Shape4 = [number, number, number, number];
type Inputs = Record<string, TensorInfo>;

function blockOf(kernel: string, x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap | undefined): ConvPoolBlock {
  const pad: unknown = attrs?.pad;
  if (pad !== "valid" && pad !== "same") throw new Error(`${kernel}: pad must be 'valid' or 'same', got ${String(pad)}`);
  if (x.shape.length !== 4 || filter.shape.length !== 4 || x.shape[3] !== filter.shape[2]) {
    throw new Error(`${kernel}: x [${x.shape}] and filter [${filter.shape}] are not an NHWC convolution`);
  }
  const info = backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, 1, 1, pad);
  const { outHeight: oh, outWidth: ow } = info;
  if (oh < 2 || ow < 2) throw new Error(`${kernel}: the conv output ${oh}x${ow} is smaller than the 2x2 pooling window`);
  const [n, h, w, c] = x.shape;
  const [kh, kw, , oc] = filter.shape;
  const [ph, pw] = [Math.floor(oh / 2), Math.floor(ow / 2)];
  return { n, h, w, c, kh, kw, oc, pt: info.padInfo.top, pl: info.padInfo.left, oh, ow, ph, pw, pad, pooled: [n, ph, pw, oc] };
}

/** The forward kernel's inputs {x, filter, bias}, checked, and the block's geometry. */
export function convPoolForwardInputs(inputs: Inputs, attrs: NamedAttrMap | undefined) {
  const { x, filter, bias } = inputs;
  requireFloat32(CONV_POOL_KERNEL, x, filter, bias);
  const block = blockOf(CONV_POOL_KERNEL, x, filter, attrs);
  if (util.sizeFromShape(bias.shape) !== block.oc) throw new Error(`${CONV_POOL_KERNEL}: bias [${bias.shape}] does not match ${block.oc} filters`);
  return { x, filter, bias, block };
}

/** The backward kernel's inputs {dy, x, filter, y, argmax}, checked, the block's geometry and whether dx is wanted. */
export function convPoolGradInputs(inputs: Inputs, attrs: NamedAttrMap | undefined) {
  const { dy, x, filter, y, argmax } = inputs;
  requireFloat32(CONV_POOL_GRAD_KERNEL, dy, x, filter, y);
  const block = blockOf(CONV_POOL_GRAD_KERNEL, x, filter, attrs);
  for (const t of [dy, y, argmax]) {
    if (!util.arraysEqual(t.shape, block.pooled)) throw new Error(`${CONV_POOL_GRAD_KERNEL}: expected [${block.pooled}], got [${t.shape}]`);
  }
  if (argmax.dtype !== "int32") throw new Error(`${CONV_POOL_GRAD_KERNEL}: argmax must be int32, got ${argmax.dtype}`);
  return { dy, x, filter, y, argmax, block, inputGradient: attrs?.inputGradient === true };
}
