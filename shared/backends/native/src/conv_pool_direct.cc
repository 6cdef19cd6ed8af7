// The conv block's direct path for a few input channels (a first layer: KH*KW*C = 9 for 3x3 grey, 27 for
// RGB). There im2col + sgemm is a poor fit — sgemm with K = 9 runs at a fraction of its speed and the
// im2col matrix and conv output cost more memory traffic than the arithmetic — so each 2x2 pooling window
// is computed in AVX2 registers from the input block its four patches cover: conv, bias, ReLU and the max
// forward; the filter and bias gradients backward (dx is not needed: nothing feeds a first layer).
//
// Semantics as conv_pool.cc's tile path (ReLU lets NaN through, the first maximum wins, NaN never wins);
// only the order of the sums differs. Built for AVX2+FMA and used only where the CPU has both.
#include "conv_pool_direct.h"

#include "../../cc/conv_block.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

namespace ff {
namespace {

// A window's four patches all lie in one (KH+1) x (KW+1) x C block of the input; the taps (FixedTaps,
// RuntimeTaps: ../../cc/conv_block.h) say where in it each patch element is.

// Filters are done in groups of G = 2 vectors (16 filters; a last group of 1): the four positions' G
// accumulators (8), the bias and the running max stay in AVX2's 16 registers, each weight load feeds four
// FMAs, and the eight independent FMA chains keep both FMA ports busy. (All filters at once spilled.)
constexpr int kGroup = 2;

// The filters as the loops read them: a group's G vectors of 8 filters for tap k at (k * G + j) * 8, the
// group of vectors j0.. at j0 * 8 * KC. Every weight a window's loop reads is then at a constant offset from
// its group's start (with w + k * OC the compiler kept a pointer per tap, spilled to the stack).
inline int64_t GroupSize(int64_t j0, int64_t vectors) { return j0 + kGroup <= vectors ? kGroup : 1; }

void PackFilters(const float* w, int64_t KC, int64_t OC, float* packed) {
  const int64_t vectors = OC / 8;
  for (int64_t j0 = 0, G; j0 < vectors; j0 += G) {
    G = GroupSize(j0, vectors);
    for (int64_t k = 0; k < KC; ++k) {
      for (int64_t j = 0; j < G; ++j) memcpy(packed + j0 * 8 * KC + (k * G + j) * 8, w + k * OC + (j0 + j) * 8, 8 * sizeof(float));
    }
  }
}

void UnpackFilters(const float* packed, int64_t KC, int64_t OC, float* w) {
  const int64_t vectors = OC / 8;
  for (int64_t j0 = 0, G; j0 < vectors; j0 += G) {
    G = GroupSize(j0, vectors);
    for (int64_t k = 0; k < KC; ++k) {
      for (int64_t j = 0; j < G; ++j) memcpy(w + k * OC + (j0 + j) * 8, packed + j0 * 8 * KC + (k * G + j) * 8, 8 * sizeof(float));
    }
  }
}

template <int G, class Taps>
__attribute__((target("avx2,fma"))) inline void WindowForward(const float* block, const Taps& t, const float* wg, const float* bias,
                                                              float* y, int32_t* arg) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 acc[4][G];
  for (int pos = 0; pos < 4; ++pos) {
    for (int j = 0; j < G; ++j) acc[pos][j] = zero;
  }
#pragma GCC unroll 32
  for (int64_t k = 0; k < t.KC; ++k) {
    __m256 wv[G];
    for (int j = 0; j < G; ++j) wv[j] = _mm256_load_ps(wg + (k * G + j) * 8);
    for (int pos = 0; pos < 4; ++pos) {
      const __m256 v = _mm256_broadcast_ss(&block[t.Off(pos, k)]);
      for (int j = 0; j < G; ++j) acc[pos][j] = _mm256_fmadd_ps(v, wv[j], acc[pos][j]);
    }
  }
  // maxps(a, b) returns b when either is NaN or both are equal (±0 included), which gives exactly the
  // blend-based rules of the tile path: ReLU = maxps(0, v) keeps NaN and -0; the running max = maxps(v, best)
  // keeps best for a NaN or a tie (the first maximum wins, NaN never does). Only where needs a compare.
  for (int j = 0; j < G; ++j) {
    const __m256 b = _mm256_loadu_ps(bias + 8 * j);
    __m256 best = _mm256_max_ps(_mm256_max_ps(zero, _mm256_add_ps(acc[0][j], b)), _mm256_set1_ps(-INFINITY));
    __m256i where = _mm256_setzero_si256();
    for (int pos = 1; pos < 4; ++pos) {
      const __m256 v = _mm256_max_ps(zero, _mm256_add_ps(acc[pos][j], b));
      const __m256 wins = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
      best = _mm256_max_ps(v, best);
      where = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(where), _mm256_castsi256_ps(_mm256_set1_epi32(pos)), wins));
    }
    _mm256_storeu_ps(y + 8 * j, best);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + 8 * j), where);
  }
}

template <class Taps>
__attribute__((target("avx2,fma"))) void Forward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g,
                                                 const Taps& t, int64_t PH, int64_t PW) {
  const int64_t OC = g.OC, vectors = OC / 8;
  alignas(32) float block[kDirectMaxBlock];
  alignas(32) float packed[kDirectMaxTaps * kDirectMaxFilters];
  PackFilters(w, t.KC, OC, packed);
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        GatherBlock(x, g, t, n, ph, pw, block);
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        for (int64_t j = 0, G; j < vectors; j += G) {
          G = GroupSize(j, vectors);
          const float* wg = packed + j * 8 * t.KC;
          if (G == kGroup) WindowForward<kGroup>(block, t, wg, bias + 8 * j, y + out + 8 * j, arg + out + 8 * j);
          else WindowForward<1>(block, t, wg, bias + 8 * j, y + out + 8 * j, arg + out + 8 * j);
        }
      }
    }
  }
}

// One window's part of G vectors of filters' gradients: the pooled gradient goes to the winning position,
// where the ReLU passed it (pooled value > 0); db sums it in float64. Returns without touching dw when the
// group's gradient is zero in this window (e.g. every unit off), so the block is gathered only when needed.
template <int G, class Taps, class Gather>
__attribute__((target("avx2,fma"))) inline void WindowFilterGrad(const float* dy, const float* y, const int32_t* arg, const Taps& t,
                                                                 float* dwg, double* db, Gather& block) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 v[4][G];
  bool any = false;
  for (int j = 0; j < G; ++j) {
    const __m256 g0 = _mm256_and_ps(_mm256_loadu_ps(dy + 8 * j), _mm256_cmp_ps(_mm256_loadu_ps(y + 8 * j), zero, _CMP_GT_OQ));
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arg + 8 * j));
    for (int pos = 0; pos < 4; ++pos) v[pos][j] = _mm256_and_ps(g0, _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_set1_epi32(pos))));
    _mm256_storeu_pd(db + 8 * j, _mm256_add_pd(_mm256_loadu_pd(db + 8 * j), _mm256_cvtps_pd(_mm256_castps256_ps128(g0))));
    _mm256_storeu_pd(db + 8 * j + 4, _mm256_add_pd(_mm256_loadu_pd(db + 8 * j + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(g0, 1))));
    any = any || _mm256_movemask_ps(_mm256_cmp_ps(g0, zero, _CMP_NEQ_UQ)) != 0;
  }
  if (!any) return;
  const float* b = block();
#pragma GCC unroll 32
  for (int64_t k = 0; k < t.KC; ++k) {
    const __m256 p0 = _mm256_broadcast_ss(&b[t.Off(0, k)]), p1 = _mm256_broadcast_ss(&b[t.Off(1, k)]);
    const __m256 p2 = _mm256_broadcast_ss(&b[t.Off(2, k)]), p3 = _mm256_broadcast_ss(&b[t.Off(3, k)]);
    float* dwk = dwg + k * G * 8;
    for (int j = 0; j < G; ++j) {
      __m256 s = _mm256_mul_ps(p0, v[0][j]);
      s = _mm256_fmadd_ps(p1, v[1][j], s);
      s = _mm256_fmadd_ps(p2, v[2][j], s);
      s = _mm256_fmadd_ps(p3, v[3][j], s);
      _mm256_store_ps(dwk + 8 * j, _mm256_add_ps(_mm256_load_ps(dwk + 8 * j), s));
    }
  }
}

template <class Taps>
__attribute__((target("avx2,fma"))) void FilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g,
                                                    const Taps& t, int64_t PH, int64_t PW, float* dw, float* db) {
  const int64_t OC = g.OC, vectors = OC / 8;
  alignas(32) float block[kDirectMaxBlock];
  alignas(32) double dbSum[kDirectMaxFilters] = {};
  alignas(32) float packed[kDirectMaxTaps * kDirectMaxFilters];
  memset(packed, 0, size_t(t.KC * OC) * sizeof(float));
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        bool gathered = false;
        auto gather = [&]() -> const float* {
          if (!gathered) GatherBlock(x, g, t, n, ph, pw, block);
          gathered = true;
          return block;
        };
        for (int64_t j = 0, G; j < vectors; j += G) {
          G = GroupSize(j, vectors);
          const int64_t o = out + 8 * j;
          float* dwg = packed + j * 8 * t.KC;
          if (G == kGroup) WindowFilterGrad<kGroup>(dy + o, y + o, arg + o, t, dwg, dbSum + 8 * j, gather);
          else WindowFilterGrad<1>(dy + o, y + o, arg + o, t, dwg, dbSum + 8 * j, gather);
        }
      }
    }
  }
  UnpackFilters(packed, t.KC, OC, dw);
  for (int64_t o = 0; o < OC; ++o) db[o] = float(dbSum[o]);
}

bool CpuHasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace

bool ConvPoolDirectCovers(const Geo& g) {
  return CpuHasAvx2Fma() && g.kc() <= kDirectMaxTaps && (g.KH + 1) * (g.KW + 1) * g.C <= kDirectMaxBlock && g.OC % 8 == 0 && g.OC >= 8 &&
         g.OC <= kDirectMaxFilters;
}

void ConvPoolDirectForward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH,
                           int64_t PW) {
  WithTaps(g.KH, g.KW, g.C, [&](const auto& t) { Forward(x, w, bias, y, arg, g, t, PH, PW); });
}

void ConvPoolDirectFilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH,
                              int64_t PW, float* dw, float* db) {
  WithTaps(g.KH, g.KW, g.C, [&](const auto& t) { FilterGrad(dy, x, y, arg, g, t, PH, PW, dw, db); });
}

}  // namespace ff
