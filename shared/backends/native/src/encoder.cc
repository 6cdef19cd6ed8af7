// See encoder.h. The arithmetic is ../../cc/encoder_math.h's, shared with the WebAssembly SIMD kernels.
#include "encoder.h"

#include <math.h>
#include <stdint.h>

#include "../../cc/encoder_math.h"
#include "napi_args.h"
#include "vector_clones.h"

namespace ff {
namespace {

// gelu(x, y): y = 0.5·x·(1 + tanh(c·(x + a·x³))).
FF_VECTOR_CLONES_512 napi_value Gelu(napi_env env, napi_callback_info info) {
  napi_value a[2];
  float *x, *y;
  int64_t lx, ly;
  if (!GetArgs(env, info, a, 2, "gelu(x, y)") || !GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y")) return nullptr;
  if (ly != lx) {
    Throw(env, "gelu: x and y differ in length");
    return nullptr;
  }
  GeluLoop(x, y, lx);
  return nullptr;
}

// geluGrad(dy, x, dx): dx = dy · d gelu/dx = dy · (0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3a·x²)).
FF_VECTOR_CLONES_512 napi_value GeluGrad(napi_env env, napi_callback_info info) {
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
  GeluGradLoop(dy, x, dx, lx);
  return nullptr;
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
  LayerNormRows(x, g, b, y, rows, d, eps);
  return nullptr;
}

// layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, d, eps): with x̂ = (x − mean)·rstd and
// g = dy·gamma, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) per row; dgamma = Σ dy·x̂, dbeta = Σ dy over rows.
FF_VECTOR_CLONES napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
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
