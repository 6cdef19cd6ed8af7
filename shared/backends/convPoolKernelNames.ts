/**
 * Names of the fused conv-block kernels a backend may offer: conv2d (stride 1) + bias + ReLU + 2x2 max
 * pooling with stride 2, forward and backward (the native path registers them on wasm). The models' conv
 * blocks use them in training where the active backend has them (shared/model/convPoolOp.ts).
 *
 * Forward: inputs {x, filter, bias}, attrs {pad: "valid" | "same"} → [y, argmax] (argmax int32 0..3: which
 * position of its 2x2 window each pooled value came from, row-major).
 * Backward: inputs {dy, x, filter, y, argmax}, attrs {pad, inputGradient} → [dfilter, dbias] and dx when
 * inputGradient is true.
 */
export const CONV_POOL_KERNEL = "FedfusionConvPool";
export const CONV_POOL_GRAD_KERNEL = "FedfusionConvPoolGrad";

export const CONV_POOL_KERNEL_NAMES: readonly string[] = [CONV_POOL_KERNEL, CONV_POOL_GRAD_KERNEL];
