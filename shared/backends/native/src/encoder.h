// Fused kernels of the fusion model's transformer encoder: GELU (tanh approximation) and layer
// normalisation over the last axis, forward and backward. tfjs composes each of them from 8-20
// elementwise kernels over the [tokens, width] activations; one pass each here.
#pragma once

#include <node_api.h>

namespace ff {

// Adds gelu, geluGrad, layerNorm and layerNormGrad to the addon's exports.
void DefineEncoder(napi_env env, napi_value exports);

}  // namespace ff
