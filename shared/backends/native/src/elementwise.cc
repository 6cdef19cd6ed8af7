// See elementwise.h. Both kernels are plain loops the compiler vectorises at the baseline ISA, so the
// addon stays portable across x86-64 CPUs (no -march flags).
#include "elementwise.h"

#include <stdint.h>

#include <vector>

#include "napi_args.h"

namespace ff {

namespace {

// tanh(x, y): y[i] = tanh(x[i]) for every i < x.length.
napi_value Tanh(napi_env env, napi_callback_info info) {
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
napi_value SumRowsOrColumns(napi_env env, napi_callback_info info) {
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

}  // namespace

void DefineElementwise(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"tanh", Tanh},
      {"sumRowsOrColumns", SumRowsOrColumns},
  });
}

}  // namespace ff
