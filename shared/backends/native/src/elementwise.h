// Elementwise and reduction kernels where tfjs's wasm backend is slow: tanh (a scalar libm call per
// value), sums over leading axes (wasm transposes the tensor first), Adam's update (14 kernels per
// variable in tfjs) and transposes that keep the last axis (attention heads: contiguous runs).
#pragma once

#include <node_api.h>

#include "../../cc/encoder_math.h"  // FastTanh

namespace ff {

// Adds tanh(x, y), sumRowsOrColumns(x, out, rows, cols, axis), adamUpdate(...) and transpose(x, y, shape, perm)
// to the addon's exports.
void DefineElementwise(napi_env env, napi_value exports);

}  // namespace ff
