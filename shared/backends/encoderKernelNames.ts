/**
 * Names of the fused encoder kernels (GELU and layer norm, forward and backward) a backend may offer.
 * The fusion model's layers use them where the active backend has them (the native path registers them
 * on wasm) and compose the same functions from standard ops everywhere else.
 */
export const GELU_KERNEL = "FedfusionGelu";
export const GELU_GRAD_KERNEL = "FedfusionGeluGrad";
export const LAYER_NORM_KERNEL = "FedfusionLayerNorm";
export const LAYER_NORM_GRAD_KERNEL = "FedfusionLayerNormGrad";

/** The variance epsilon of the encoder's layer norms. */
export const LAYER_NORM_EPSILON = 1e-5;

export const ENCODER_KERNEL_NAMES: readonly string[] = [GELU_KERNEL, GELU_GRAD_KERNEL, LAYER_NORM_KERNEL, LAYER_NORM_GRAD_KERNEL];

/**
 * Multi-head self-attention's core, softmax(scale · Q·Kᵀ)·V per image and head, forward (outputs: the
 * result and the probabilities, which the backward pass needs) and backward. Only the native path has them
 * (native/attentionKernels.ts); everywhere else the encoder composes the same function from standard ops.
 */
export const ATTENTION_KERNEL = "FedfusionAttention";
export const ATTENTION_GRAD_KERNEL = "FedfusionAttentionGrad";

export const ATTENTION_KERNEL_NAMES: readonly string[] = [ATTENTION_KERNEL, ATTENTION_GRAD_KERNEL];
