// The fusion encoder's multi-head self-attention core as one kernel forward and one backward:
// softmax(scale · Q·Kᵀ)·V per (image, head). tfjs runs it as ~9 kernels forward and ~16 backward per block
// (head split and merge transposes, batched products, softmax and its gradient's elementwise ops); here
// the heads are read and written in place in the [tokens, heads · headDim] activations (strided sgemm
// operands), so nothing is transposed.
#pragma once

#include <node_api.h>

namespace ff {

// Adds attention and attentionGrad to the addon's exports.
void DefineAttention(napi_env env, napi_value exports);

}  // namespace ff
