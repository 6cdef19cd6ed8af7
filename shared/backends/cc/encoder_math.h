// The arithmetic of the fusion model's encoder kernels — tanh, GELU and layer norm, forward and
// backward — shared by the native addon (native/src/encoder.cc, elementwise.cc; attention.cc takes
// LaneSum) and the WebAssembly SIMD kernels (simd/src/kernels.cc), so both paths compute the same values. The formulas are those of
// shared/model/encoderOps.ts's composite ops, which remain the reference. Header-only and free of any
// library call beyond sqrt, so that clang's freestanding wasm32 build takes it as it is.
#pragma once

#include <stdint.h>

namespace ff {

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

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

// y = 0.5·x·(1 + tanh(c·(x + a·x³))) for n values.
inline void GeluLoop(const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.f + FastTanh(kGeluC * (v + kGeluA * v * v * v)));
  }
}

// dx = dy · d gelu/dx = dy · (0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3a·x²)), t = tanh(c·(x + a·x³)).
inline void GeluGradLoop(const float* __restrict dy, const float* __restrict x, float* __restrict dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float t = FastTanh(kGeluC * (v + kGeluA * v * v * v));
    const float d = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kGeluC * (1.f + 3.f * kGeluA * v * v);
    dx[i] = dy[i] * d;
  }
}

// Row sums run four float64 partial sums (lanes j mod 4, the tail into lane 0, added at the end):
// independent chains the compiler keeps in one vector register, instead of one add waiting on the
// previous (rows are short: d = 64 here, so the latency chain was most of the kernels' time).
template <class Term>
inline double LaneSum(int64_t d, Term term) {
  double s[4] = {0, 0, 0, 0};
  const int64_t d4 = d - d % 4;
  for (int64_t j = 0; j < d4; j += 4) {
    for (int k = 0; k < 4; ++k) s[k] += term(j + k);
  }
  for (int64_t j = d4; j < d; ++j) s[0] += term(j);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Mean and 1/sqrt(variance + eps) of one row, accumulated in float64.
inline void RowStats(const float* r, int64_t d, double eps, double* mean, double* rstd) {
  const double m = LaneSum(d, [r](int64_t j) { return double(r[j]); }) / double(d);
  const double q = LaneSum(d, [r, m](int64_t j) {
    const double c = r[j] - m;
    return c * c;
  });
  *mean = m;
  *rstd = 1.0 / __builtin_sqrt(q / double(d) + eps);
}

// y = (x − mean)/sqrt(var + eps)·gamma + beta, per row of d.
inline void LayerNormRows(const float* __restrict x, const float* __restrict g, const float* __restrict b, float* __restrict y, int64_t rows,
                          int64_t d, double eps) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = x + i * d;
    float* o = y + i * d;
    double mean, rstd;
    RowStats(r, d, eps, &mean, &rstd);
    const float m = float(mean), s = float(rstd);
    for (int64_t j = 0; j < d; ++j) o[j] = (r[j] - m) * s * g[j] + b[j];
  }
}

// With x̂ = (x − mean)·rstd and g = dy·gamma, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row;
// dgamma = Σ dy·x̂, dbeta = Σ dy over the rows. Restrict pointers (the arrays never overlap), so every
// per-value loop vectorises.
inline void LayerNormGradRows(const float* __restrict dy, const float* __restrict x, const float* __restrict g, float* __restrict dx,
                              float* __restrict dg, float* __restrict db, int64_t rows, int64_t d, double eps) {
  for (int64_t j = 0; j < d; ++j) dg[j] = db[j] = 0.f;
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = x + i * d;
    const float* e = dy + i * d;
    float* o = dx + i * d;
    double mean, rstd;
    RowStats(r, d, eps, &mean, &rstd);
    const float m = float(mean), s = float(rstd);
    for (int64_t j = 0; j < d; ++j) {
      const float xh = (r[j] - m) * s;
      dg[j] += e[j] * xh;
      db[j] += e[j];
    }
    const double sg = LaneSum(d, [e, g](int64_t j) { return double(e[j] * g[j]); });
    const double sgx = LaneSum(d, [e, g, r, m, s](int64_t j) { return double(e[j] * g[j]) * double((r[j] - m) * s); });
    const float mg = float(sg / double(d)), mgx = float(sgx / double(d));
    for (int64_t j = 0; j < d; ++j) {
      const float xh = (r[j] - m) * s;
      o[j] = s * (e[j] * g[j] - mg - xh * mgx);
    }
  }
}

}  // namespace ff
