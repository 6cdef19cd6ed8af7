// Elementwise and reduction kernels where tfjs's wasm backend is slow: tanh (a scalar libm call per
// value) and sums over leading axes (wasm transposes the tensor first).
#pragma once

#include <node_api.h>

namespace ff {

// Adds tanh(x, y) and sumRowsOrColumns(x, out, rows, cols, axis) to the addon's exports.
void DefineElementwise(napi_env env, napi_value exports);

}  // namespace ff
