// The conv block's direct path built for AVX-512: 16 filters a vector (conv_pool_direct_loops.h over the operations below).
#include "../../cc/conv_block.h"
#include "conv_pool_direct.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")

#include "conv_pool_direct_loops.h"

namespace ff {
namespace {

struct Avx512 {
  using V = __m512;
  using I = __m512i;
  using M = __mmask16;
  static constexpr int kRegisters = 32;
  static constexpr int kLanes = 16;
  static inline V Zero() { return _mm512_setzero_ps(); }
  static inline V Set(float v) { return _mm512_set1_ps(v); }
  static inline V Load(const float* p) { return _mm512_load_ps(p); }
  static inline V LoadU(const float* p) { return _mm512_loadu_ps(p); }
  static inline void Store(float* p, V v) { _mm512_store_ps(p, v); }
  static inline void StoreU(float* p, V v) { _mm512_storeu_ps(p, v); }
  static inline V Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static inline V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static inline V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static inline V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static inline V Max(V a, V b) { return _mm512_max_ps(a, b); }
  static inline M Greater(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static inline V Keep(V v, M m) { return _mm512_maskz_mov_ps(m, v); }
  static inline bool AnyNonZero(V v) { return _mm512_cmp_ps_mask(v, Zero(), _CMP_NEQ_UQ) != 0; }
  static inline I NoWhere() { return _mm512_setzero_si512(); }
  static inline I Mark(I where, M m, int pos) { return _mm512_mask_mov_epi32(where, m, _mm512_set1_epi32(pos)); }
  static inline void StoreWhere(int32_t* p, I v) { _mm512_storeu_si512(p, v); }
  static inline M At(const int32_t* p, int pos) { return _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(p), _mm512_set1_epi32(pos)); }
  static inline void AddToDoubles(double* d, V v) {
    _mm512_storeu_pd(d, _mm512_add_pd(_mm512_loadu_pd(d), _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
    _mm512_storeu_pd(d + 8, _mm512_add_pd(_mm512_loadu_pd(d + 8), _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))));
  }
};

}  // namespace

extern const DirectBuild kDirectAvx512 = {&DirectForward<Avx512>, &DirectFilterGrad<Avx512>};

}  // namespace ff

#pragma GCC pop_options
