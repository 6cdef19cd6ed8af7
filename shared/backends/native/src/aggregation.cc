// See aggregation.h. Plain loops the compiler vectorises, for AVX2 where the CPU has it (vector_clones.h).
#include "aggregation.h"

#include <stdint.h>

#include "napi_args.h"
#include "vector_clones.h"

namespace ff {
namespace {

// acc = w·delta(j) (first) or acc += w·delta(j), for j < n.
template <class Delta>
inline void Fold(double* acc, double w, int64_t n, bool first, Delta delta) {
  if (first) {
    for (int64_t j = 0; j < n; ++j) acc[j] = w * delta(j);
  } else {
    for (int64_t j = 0; j < n; ++j) acc[j] += w * delta(j);
  }
}

FF_VECTOR_CLONES void FoldDeltaLoop(double* acc, const float* d, double w, int64_t n, bool first) {
  Fold(acc, w, n, first, [d](int64_t j) { return double(d[j]); });
}

FF_VECTOR_CLONES void FoldWeightsLoop(double* acc, const float* x, const float* g, double w, int64_t n, bool first) {
  Fold(acc, w, n, first, [x, g](int64_t j) { return double(x[j]) - double(g[j]); });
}

FF_VECTOR_CLONES void FinishMeanLoop(const double* acc, const float* g, double total, float* out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = float(double(g[j]) + acc[j] / total);
}

// foldDelta(acc, delta, weight, first): acc = weight·delta (first) or acc += weight·delta.
napi_value FoldDelta(napi_env env, napi_callback_info info) {
  napi_value a[4];
  double *acc, w;
  float* d;
  int64_t la, ld;
  bool first;
  if (!GetArgs(env, info, a, 4, "foldDelta(acc, delta, weight, first)") || !GetF64(env, a[0], &acc, &la, "acc") ||
      !GetF32(env, a[1], &d, &ld, "delta") || !GetNum(env, a[2], &w, "weight") || !GetBool(env, a[3], &first)) {
    return nullptr;
  }
  if (la != ld) {
    Throw(env, "foldDelta: acc and delta differ in length");
    return nullptr;
  }
  FoldDeltaLoop(acc, d, w, la, first);
  return nullptr;
}

// foldWeights(acc, weights, base, weight, first): the same with delta = weights − base (in float64).
napi_value FoldWeights(napi_env env, napi_callback_info info) {
  napi_value a[5];
  double *acc, w;
  float *x, *g;
  int64_t la, lx, lg;
  bool first;
  if (!GetArgs(env, info, a, 5, "foldWeights(acc, weights, base, weight, first)") ||
      !GetF64(env, a[0], &acc, &la, "acc") || !GetF32(env, a[1], &x, &lx, "weights") ||
      !GetF32(env, a[2], &g, &lg, "base") || !GetNum(env, a[3], &w, "weight") || !GetBool(env, a[4], &first)) {
    return nullptr;
  }
  if (la != lx || la != lg) {
    Throw(env, "foldWeights: acc, weights and base differ in length");
    return nullptr;
  }
  FoldWeightsLoop(acc, x, g, w, la, first);
  return nullptr;
}

// finishMean(acc, base, total, out): out = base + acc / total, rounded to float32.
napi_value FinishMean(napi_env env, napi_callback_info info) {
  napi_value a[4];
  double *acc, total;
  float *g, *out;
  int64_t la, lg, lo;
  if (!GetArgs(env, info, a, 4, "finishMean(acc, base, total, out)") || !GetF64(env, a[0], &acc, &la, "acc") ||
      !GetF32(env, a[1], &g, &lg, "base") || !GetNum(env, a[2], &total, "total") ||
      !GetF32(env, a[3], &out, &lo, "out")) {
    return nullptr;
  }
  if (la != lg || la != lo) {
    Throw(env, "finishMean: acc, base and out differ in length");
    return nullptr;
  }
  FinishMeanLoop(acc, g, total, out, la);
  return nullptr;
}

// Σ x² in float64 with kSquareLanes partial sums (lane j mod 16; the tail into lane 0; the lanes added
// pairwise at the end, as shared/updateNorm.ts's twin does): four vectors of independent adds instead of
// one chain, ~4x faster on an update already in cache (a chain of dependent adds was the limit).
constexpr int kSquareLanes = 16;

FF_VECTOR_CLONES double SumOfSquaresLoop(const float* x, int64_t n) {
  double s[kSquareLanes] = {};
  const int64_t full = n - n % kSquareLanes;
  for (int64_t j = 0; j < full; j += kSquareLanes) {
    for (int l = 0; l < kSquareLanes; ++l) s[l] += double(x[j + l]) * double(x[j + l]);
  }
  for (int64_t j = full; j < n; ++j) s[0] += double(x[j]) * double(x[j]);
  for (int width = kSquareLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) s[l] = s[2 * l] + s[2 * l + 1];
  }
  return s[0];
}

// sumOfSquares(x): Σ x² in float64 (SumOfSquaresLoop); non-finite exactly when some value is (a float32
// squares to at most ~1.2e77).
napi_value SumOfSquares(napi_env env, napi_callback_info info) {
  napi_value a[1];
  float* x;
  int64_t n;
  if (!GetArgs(env, info, a, 1, "sumOfSquares(x)") || !GetF32(env, a[0], &x, &n, "x")) return nullptr;
  napi_value out;
  napi_create_double(env, SumOfSquaresLoop(x, n), &out);
  return out;
}

}  // namespace

void DefineAggregation(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"foldDelta", FoldDelta},
      {"foldWeights", FoldWeights},
      {"finishMean", FinishMean},
      {"sumOfSquares", SumOfSquares},
  });
}

}  // namespace ff
