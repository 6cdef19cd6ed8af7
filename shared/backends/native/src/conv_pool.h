// Fused conv2d (stride 1) + bias + ReLU + 2x2/2 max pooling, forward and backward (conv_pool.cc).
#pragma once

#include <node_api.h>

namespace ff {

// Adds convPool and convPoolGrad to the addon's exports.
void DefineConvPool(napi_env env, napi_value exports);

}  // namespace ff
