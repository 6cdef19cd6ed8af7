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

/** The block of a stride-1 conv of input xShape (NHWC) by filterShape with this padding; errors start with `what`. */
export function convPoolBlock(what: string, xShape: readonly number[], filterShape: readonly number[], pad: unknown): ConvPoolBlock {
  if (pad !== "valid" && pad !== "same") throw new Error(`${what}: pad must be 'valid' or 'same', got ${String(pad)}`);
  if (xShape.length !== 4 || filterShape.length !== 4 || xShape[3] !== filterShape[2]) {
    throw new Error(`${what}: x [${xShape}] and filter [${filterShape}] are not an NHWC convolution`);
  }
  const info = backend_util.computeConv2DInfo(xShape as Shape4, filterShape as Shape4, 1, 1, pad);
  const { outHeight: oh, outWidth: ow } = info;
  if (oh < 2 || ow < 2) throw new Error(`${what}: the conv output ${oh}x${ow} is smaller than the 2x2 pooling window`);
  const [n, h, w, c] = xShape;
  const [kh, kw, , oc] = filterShape;
  const [ph, pw] = [Math.floor(oh / 2), Math.floor(ow / 2)];
  return { n, h, w, c, kh, kw, oc, pt: info.padInfo.top, pl: info.padInfo.left, oh, ow, ph, pw, pad, pooled: [n, ph, pw, oc] };
}

function blockOf(kernel: string, x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap | undefined): ConvPoolBlock {
  return convPoolBlock(kernel, x.shape, filter.shape, attrs?.pad);
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
