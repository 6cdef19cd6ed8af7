// Elementwise and reduction kernels where tfjs's wasm backend is slow: tanh (a scalar libm call per
// value), sums over leading axes (wasm transposes the tensor first), Adam's update (14 kernels per
// variable in tfjs) and transposes that keep the last axis (attention heads: contiguous runs).
#pragma once

#include <node_api.h>

namespace ff {

// Adds tanh(x, y), sumRowsOrColumns(x, out, rows, cols, axis), adamUpdate(...) and transpose(x, y, shape, perm)
// to the addon's exports.
void DefineElementwise(napi_env env, napi_value exports);

// tanh as a [13/6] rational function on [-c, c] (Eigen's generic_fast_tanh_float): within a few ulp
// of the exact value in float32, ±1 beyond c where float32 tanh rounds to ±1 anyway. NaN stays NaN
// (every comparison with it is false, so it passes the clamp and poisons p/q).
inline float FastTanh(float v) {
  const float c = 7.99881172180175781f;
  const float x = v > c ? c : (v < -c ? -c : v);
  const float x2 = x * x;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = x * p;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  float r = p / q;
  // Beyond 9, float32 tanh is ±1 exactly: so is this (GELU's gradient multiplies 1 − tanh² by up to ~100).
  r = v >= 9.f ? 1.f : (v <= -9.f ? -1.f : r);
  // Near 0 the ratio loses the last bits; tanh(x) = x there to float precision.
  return (v < 0.0004f && v > -0.0004f) ? v : r;
}


}  // namespace ff
