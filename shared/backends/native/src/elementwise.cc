// See elementwise.h. Both kernels are plain loops the compiler vectorises at the baseline ISA, so the
// addon stays portable across x86-64 CPUs (no -march flags).
#include "elementwise.h"

#include <math.h>
#include <stdint.h>

#include <vector>

#include "napi_args.h"
#include "vector_clones.h"

namespace ff {

namespace {

// tanh(x, y): y[i] = tanh(x[i]) for every i < x.length.
FF_VECTOR_CLONES napi_value Tanh(napi_env env, napi_callback_info info) {
  napi_value a[2];
  float *x, *y;
  int64_t lx, ly;
  if (!GetArgs(env, info, a, 2, "tanh(x, y)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y")) return nullptr;
  if (ly < lx) {
    Throw(env, "tanh: y is shorter than x");
    return nullptr;
  }
  for (int64_t i = 0; i < lx; ++i) y[i] = FastTanh(x[i]);
  return nullptr;
}

// sumRowsOrColumns(x, out, rows, cols, axis): x is a row-major rows x cols matrix; axis 0 sums each
// column (out has cols values), axis 1 each row (out has rows values). Sums accumulate in float64.
FF_VECTOR_CLONES napi_value SumRowsOrColumns(napi_env env, napi_callback_info info) {
  napi_value a[5];
  float *x, *out;
  int64_t lx, lo, rows, cols, axis;
  if (!GetArgs(env, info, a, 5, "sumRowsOrColumns(x, out, rows, cols, axis)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &out, &lo, "out") || !GetInt(env, a[2], &rows, "rows") ||
      !GetInt(env, a[3], &cols, "cols") || !GetInt(env, a[4], &axis, "axis")) {
    return nullptr;
  }
  if (axis > 1) {
    Throw(env, "sumRowsOrColumns: axis must be 0 or 1");
    return nullptr;
  }
  if (rows * cols > lx || (axis == 0 ? cols : rows) > lo) {
    Throw(env, "sumRowsOrColumns: an array is smaller than rows x cols needs");
    return nullptr;
  }
  if (axis == 0) {
    std::vector<double> acc(size_t(cols), 0.0);
    double* s = acc.data();
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = x + i * cols;
      for (int64_t j = 0; j < cols; ++j) s[j] += r[j];
    }
    for (int64_t j = 0; j < cols; ++j) out[j] = float(s[j]);
  } else {
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = x + i * cols;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t j = 0;
      for (; j + 4 <= cols; j += 4) {
        s0 += r[j];
        s1 += r[j + 1];
        s2 += r[j + 2];
        s3 += r[j + 3];
      }
      for (; j < cols; ++j) s0 += r[j];
      out[i] = float((s0 + s1) + (s2 + s3));
    }
  }
  return nullptr;
}

// adamUpdate(x, g, m, v, xOut, mOut, vOut, c): Adam's step for one variable in float32, each operation
// one of tfjs's AdamOptimizer kernels in its order (see shared/backends/adamKernel.ts, the JavaScript
// twin): bit-identical results. c = [beta1, 1-beta1, beta2, 1-beta2, 1-beta1^t, 1-beta2^t, eps, -lr].
FF_VECTOR_CLONES napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  napi_value a[8];
  float* p[8];
  int64_t n[8];
  static const char* names[8] = {"x", "g", "m", "v", "xOut", "mOut", "vOut", "c"};
  if (!GetArgs(env, info, a, 8, "adamUpdate(x, g, m, v, xOut, mOut, vOut, c)")) return nullptr;
  for (int k = 0; k < 8; ++k) {
    if (!GetF32(env, a[k], &p[k], &n[k], names[k])) return nullptr;
  }
  for (int k = 1; k < 7; ++k) {
    if (n[k] != n[0]) {
      Throw(env, "adamUpdate: x, g, m, v and the outputs differ in length");
      return nullptr;
    }
  }
  if (n[7] != 8) {
    Throw(env, "adamUpdate: c must hold 8 coefficients");
    return nullptr;
  }
  const float *x = p[0], *g = p[1], *m = p[2], *v = p[3], *c = p[7];
  float *xo = p[4], *mo = p[5], *vo = p[6];
  const float b1 = c[0], omb1 = c[1], b2 = c[2], omb2 = c[3], c1 = c[4], c2 = c[5], eps = c[6], neg_lr = c[7];
  for (int64_t i = 0; i < n[0]; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + gi * omb1;
    const float vi = v[i] * b2 + (gi * gi) * omb2;
    const float m_hat = mi / c1;
    const float v_hat = vi / c2;
    xo[i] = (m_hat / (sqrtf(v_hat) + eps)) * neg_lr + x[i];
    mo[i] = mi;
    vo[i] = vi;
  }
  return nullptr;
}

}  // namespace

void DefineElementwise(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"tanh", Tanh},
      {"sumRowsOrColumns", SumRowsOrColumns},
      {"adamUpdate", AdamUpdate},
  });
}

}  // namespace ff
