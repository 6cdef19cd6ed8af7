// See encoder.h. The formulas are those of shared/model/fusionLayers.ts's composite versions, which
// remain the reference (and the path on backends without these kernels).
#include "encoder.h"

#include <math.h>
#include <stdint.h>

#include "elementwise.h"
#include "napi_args.h"
#include "vector_clones.h"

namespace ff {
namespace {

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluA = 0.044715f;

// gelu(x, y): y = 0.5·x·(1 + tanh(c·(x + a·x³))).
FF_VECTOR_CLONES napi_value Gelu(napi_env env, napi_callback_info info) {
  napi_value a[2];
  float *x, *y;
  int64_t lx, ly;
  if (!GetArgs(env, info, a, 2, "gelu(x, y)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y")) return nullptr;
  if (ly != lx) {
    Throw(env, "gelu: x and y differ in length");
    return nullptr;
  }
  for (int64_t i = 0; i < lx; ++i) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.f + FastTanh(kGeluC * (v + kGeluA * v * v * v)));
  }
  return nullptr;
}

// geluGrad(dy, x, dx): dx = dy · d gelu/dx = dy · (0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3a·x²)).
FF_VECTOR_CLONES napi_value GeluGrad(napi_env env, napi_callback_info info) {
  napi_value a[3];
  float *dy, *x, *dx;
  int64_t ld, lx, lo;
  if (!GetArgs(env, info, a, 3, "geluGrad(dy, x, dx)") || !GetF32(env, a[0], &dy, &ld, "dy") || !GetF32(env, a[1], &x, &lx, "x") ||
      !GetF32(env, a[2], &dx, &lo, "dx")) {
    return nullptr;
  }
  if (ld != lx || lo != lx) {
    Throw(env, "geluGrad: dy, x and dx differ in length");
    return nullptr;
  }
  for (int64_t i = 0; i < lx; ++i) {
    const float v = x[i];
    const float t = FastTanh(kGeluC * (v + kGeluA * v * v * v));
    const float d = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kGeluC * (1.f + 3.f * kGeluA * v * v);
    dx[i] = dy[i] * d;
  }
  return nullptr;
}

// Row sums run four float64 partial sums (lanes j mod 4, the tail into lane 0, added at the end):
// independent chains the compiler keeps in one vector register, instead of one add waiting on the
// previous (rows are short: d = 64 here, so the latency chain was most of the kernels' time).
constexpr int kLanes = 4;

// Σ term(j) over j < d, in float64, in those lanes.
template <class Term>
inline double LaneSum(int64_t d, Term term) {
  double s[kLanes] = {0, 0, 0, 0};
  const int64_t d4 = d - d % kLanes;
  for (int64_t j = 0; j < d4; j += kLanes) {
    for (int k = 0; k < kLanes; ++k) s[k] += term(j + k);
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
  *rstd = 1.0 / sqrt(q / double(d) + eps);
}

// layerNorm(x, gamma, beta, y, rows, d, eps): y = (x − mean)/sqrt(var + eps)·gamma + beta, per row of d.
FF_VECTOR_CLONES napi_value LayerNorm(napi_env env, napi_callback_info info) {
  napi_value a[7];
  float *x, *g, *b, *y;
  int64_t lx, lg, lb, ly, rows, d;
  double eps;
  if (!GetArgs(env, info, a, 7, "layerNorm(x, gamma, beta, y, rows, d, eps)") || !GetF32(env, a[0], &x, &lx, "x") ||
      !GetF32(env, a[1], &g, &lg, "gamma") || !GetF32(env, a[2], &b, &lb, "beta") || !GetF32(env, a[3], &y, &ly, "y") ||
      !GetInt(env, a[4], &rows, "rows") || !GetInt(env, a[5], &d, "d") || !GetNum(env, a[6], &eps, "eps")) {
    return nullptr;
  }
  if (d == 0 || rows * d != lx || ly != lx || lg != d || lb != d) {
    Throw(env, "layerNorm: arrays do not match rows x d");
    return nullptr;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = x + i * d;
    float* o = y + i * d;
    double mean, rstd;
    RowStats(r, d, eps, &mean, &rstd);
    const float m = float(mean), s = float(rstd);
    for (int64_t j = 0; j < d; ++j) o[j] = (r[j] - m) * s * g[j] + b[j];
  }
  return nullptr;
}

// The rows of layerNormGrad. Separate, with restrict pointers (the arrays never overlap), so every
// per-value loop vectorises.
FF_VECTOR_CLONES void LayerNormGradRows(const float* __restrict dy, const float* __restrict x, const float* __restrict g,
                                        float* __restrict dx, float* __restrict dg, float* __restrict db, int64_t rows,
                                        int64_t d, double eps) {
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

// layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, d, eps): with x̂ = (x − mean)·rstd and
// g = dy·gamma, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row; dgamma = Σ dy·x̂, dbeta = Σ dy over rows.
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  napi_value a[9];
  float *dy, *x, *g, *dx, *dg, *db;
  int64_t ld, lx, lg, lo, ldg, ldb, rows, d;
  double eps;
  if (!GetArgs(env, info, a, 9, "layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, d, eps)") || !GetF32(env, a[0], &dy, &ld, "dy") ||
      !GetF32(env, a[1], &x, &lx, "x") || !GetF32(env, a[2], &g, &lg, "gamma") || !GetF32(env, a[3], &dx, &lo, "dx") ||
      !GetF32(env, a[4], &dg, &ldg, "dgamma") || !GetF32(env, a[5], &db, &ldb, "dbeta") || !GetInt(env, a[6], &rows, "rows") ||
      !GetInt(env, a[7], &d, "d") || !GetNum(env, a[8], &eps, "eps")) {
    return nullptr;
  }
  if (d == 0 || rows * d != lx || ld != lx || lo != lx || lg != d || ldg != d || ldb != d) {
    Throw(env, "layerNormGrad: arrays do not match rows x d");
    return nullptr;
  }
  LayerNormGradRows(dy, x, g, dx, dg, db, rows, d, eps);
  return nullptr;
}

}  // namespace

void DefineEncoder(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"gelu", Gelu},
      {"geluGrad", GeluGrad},
      {"layerNorm", LayerNorm},
      {"layerNormGrad", LayerNormGrad},
  });
}

}  // namespace ff
