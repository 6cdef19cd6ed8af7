// The conv block's direct path built for AVX2+FMA: 8 filters a vector (conv_pool_direct_loops.h over the operations below).
#include "../../cc/conv_block.h"
#include "conv_pool_direct.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#include "conv_pool_direct_loops.h"

namespace ff {
namespace {

struct Avx2 {
  using V = __m256;
  using I = __m256i;
  using M = __m256;
  static constexpr int kRegisters = 16;
  static constexpr int kLanes = 8;
  static inline V Zero() { return _mm256_setzero_ps(); }
  static inline V Set(float v) { return _mm256_set1_ps(v); }
  static inline V Load(const float* p) { return _mm256_load_ps(p); }
  static inline V LoadU(const float* p) { return _mm256_loadu_ps(p); }
  static inline void Store(float* p, V v) { _mm256_store_ps(p, v); }
  static inline void StoreU(float* p, V v) { _mm256_storeu_ps(p, v); }
  static inline V Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static inline V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static inline V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static inline V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static inline V Max(V a, V b) { return _mm256_max_ps(a, b); }
  static inline M Greater(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline V Keep(V v, M m) { return _mm256_and_ps(v, m); }
  static inline bool AnyNonZero(V v) { return _mm256_movemask_ps(_mm256_cmp_ps(v, Zero(), _CMP_NEQ_UQ)) != 0; }
  static inline I NoWhere() { return _mm256_setzero_si256(); }
  static inline I Mark(I where, M m, int pos) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(where), _mm256_castsi256_ps(_mm256_set1_epi32(pos)), m));
  }
  static inline void StoreWhere(int32_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
  static inline M At(const int32_t* p, int pos) {
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_set1_epi32(pos)));
  }
  static inline void AddToDoubles(double* d, V v) {
    _mm256_storeu_pd(d, _mm256_add_pd(_mm256_loadu_pd(d), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(d + 4, _mm256_add_pd(_mm256_loadu_pd(d + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
  }
};

}  // namespace

extern const DirectBuild kDirectAvx2 = {&DirectForward<Avx2>, &DirectFilterGrad<Avx2>};

}  // namespace ff

#pragma GCC pop_options
