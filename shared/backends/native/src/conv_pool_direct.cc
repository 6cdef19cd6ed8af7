// The conv block's direct path for a few input channels (a first layer: KH*KW*C = 9 for 3x3 grey, 27 for
// RGB). There im2col + sgemm is a poor fit — sgemm with K = 9 runs at a fraction of its speed and the
// im2col matrix and conv output cost more memory traffic than the arithmetic — so each 2x2 pooling window
// is computed in AVX2 registers from the input block its four patches cover: conv, bias, ReLU and the max
// forward; the filter and bias gradients backward (dx is not needed: nothing feeds a first layer).
//
// Semantics as conv_pool.cc's tile path (ReLU lets NaN through, the first maximum wins, NaN never wins);
// only the order of the sums differs. Built for AVX2+FMA and used only where the CPU has both.
#include "conv_pool_direct.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

namespace ff {
namespace {

constexpr int64_t kMaxKC = 32;
constexpr int64_t kMaxBlock = 64;

// A window's four patches all lie in one (KH+1) x (KW+1) x C block of the input: it is read once, and
// patch element k of position pos is block[offsets[pos][k]].
struct Window {
  int64_t offsets[4][kMaxKC];
  explicit Window(const Geo& g) {
    for (int pos = 0; pos < 4; ++pos) {
      int64_t k = 0;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          for (int64_t c = 0; c < g.C; ++c) offsets[pos][k++] = ((kh + (pos >> 1)) * (g.KW + 1) + kw + (pos & 1)) * g.C + c;
        }
      }
    }
  }
};

// The input block of window (n, ph, pw), zero where it reaches into the padding.
inline void GatherBlock(const float* x, const Geo& g, int64_t n, int64_t ph, int64_t pw, float* block) {
  const float* xn = x + n * g.H * g.W * g.C;
  const int64_t ih0 = 2 * ph - g.pt, iw0 = 2 * pw - g.pl, rowLen = (g.KW + 1) * g.C;
  const bool inside = ih0 >= 0 && ih0 + g.KH + 1 <= g.H && iw0 >= 0 && iw0 + g.KW + 1 <= g.W;
  for (int64_t r = 0; r <= g.KH; ++r, block += rowLen) {
    const int64_t ih = ih0 + r;
    if (inside) {
      const float* s = xn + (ih * g.W + iw0) * g.C;
      for (int64_t i = 0; i < rowLen; ++i) block[i] = s[i];
      continue;
    }
    for (int64_t col = 0; col <= g.KW; ++col) {
      const int64_t iw = iw0 + col;
      const bool in = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
      const float* s = xn + (ih * g.W + iw) * g.C;
      for (int64_t c = 0; c < g.C; ++c) block[col * g.C + c] = in ? s[c] : 0.f;
    }
  }
}

template <int NB>
__attribute__((target("avx2,fma"))) void Forward(const float* x, const float* w, const float* bias, float* y, int32_t* arg,
                                                 const Geo& g, int64_t PH, int64_t PW) {
  const int64_t KC = g.kc(), OC = g.OC;
  const Window win(g);
  alignas(32) float block[kMaxBlock];
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        GatherBlock(x, g, n, ph, pw, block);
        __m256 best[NB];
        __m256i where[NB];
        for (int j = 0; j < NB; ++j) {
          best[j] = _mm256_set1_ps(-INFINITY);
          where[j] = _mm256_setzero_si256();
        }
        for (int pos = 0; pos < 4; ++pos) {
          __m256 acc[NB];
          for (int j = 0; j < NB; ++j) acc[j] = zero;
          for (int64_t k = 0; k < KC; ++k) {
            const __m256 v = _mm256_broadcast_ss(&block[win.offsets[pos][k]]);
            const float* wk = w + k * OC;
            for (int j = 0; j < NB; ++j) acc[j] = _mm256_fmadd_ps(v, _mm256_loadu_ps(wk + 8 * j), acc[j]);
          }
          const __m256i posv = _mm256_set1_epi32(pos);
          for (int j = 0; j < NB; ++j) {
            __m256 v = _mm256_add_ps(acc[j], _mm256_loadu_ps(bias + 8 * j));
            v = _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));  // ReLU, NaN kept
            const __m256 wins = _mm256_cmp_ps(v, best[j], _CMP_GT_OQ);       // first max; NaN never wins
            best[j] = _mm256_blendv_ps(best[j], v, wins);
            where[j] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(where[j]), _mm256_castsi256_ps(posv), wins));
          }
        }
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        for (int j = 0; j < NB; ++j) {
          _mm256_storeu_ps(y + out + 8 * j, best[j]);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + out + 8 * j), where[j]);
        }
      }
    }
  }
}

template <int NB>
__attribute__((target("avx2,fma"))) void FilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg,
                                                    const Geo& g, int64_t PH, int64_t PW, float* dw, float* db) {
  const int64_t KC = g.kc(), OC = g.OC;
  const Window win(g);
  alignas(32) float block[kMaxBlock];
  const __m256 zero = _mm256_setzero_ps();
  memset(dw, 0, size_t(KC * OC) * sizeof(float));
  __m256d dbSum[2 * NB];
  for (int j = 0; j < 2 * NB; ++j) dbSum[j] = _mm256_setzero_pd();
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        bool any = false;
        __m256 v[4][NB];
        for (int j = 0; j < NB; ++j) {
          // The pooled gradient goes to the winning position, where the ReLU passed it (pooled value > 0).
          const __m256 yv = _mm256_loadu_ps(y + out + 8 * j);
          const __m256 g0 = _mm256_and_ps(_mm256_loadu_ps(dy + out + 8 * j), _mm256_cmp_ps(yv, zero, _CMP_GT_OQ));
          const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arg + out + 8 * j));
          for (int pos = 0; pos < 4; ++pos) {
            v[pos][j] = _mm256_and_ps(g0, _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, _mm256_set1_epi32(pos))));
          }
          dbSum[2 * j] = _mm256_add_pd(dbSum[2 * j], _mm256_cvtps_pd(_mm256_castps256_ps128(g0)));
          dbSum[2 * j + 1] = _mm256_add_pd(dbSum[2 * j + 1], _mm256_cvtps_pd(_mm256_extractf128_ps(g0, 1)));
          any = any || _mm256_movemask_ps(_mm256_cmp_ps(g0, zero, _CMP_NEQ_UQ)) != 0;
        }
        if (!any) continue;  // e.g. every unit of the window off
        GatherBlock(x, g, n, ph, pw, block);
        for (int64_t k = 0; k < KC; ++k) {
          const __m256 p0 = _mm256_broadcast_ss(&block[win.offsets[0][k]]), p1 = _mm256_broadcast_ss(&block[win.offsets[1][k]]);
          const __m256 p2 = _mm256_broadcast_ss(&block[win.offsets[2][k]]), p3 = _mm256_broadcast_ss(&block[win.offsets[3][k]]);
          float* dwk = dw + k * OC;
          for (int j = 0; j < NB; ++j) {
            __m256 s = _mm256_mul_ps(p0, v[0][j]);
            s = _mm256_fmadd_ps(p1, v[1][j], s);
            s = _mm256_fmadd_ps(p2, v[2][j], s);
            s = _mm256_fmadd_ps(p3, v[3][j], s);
            _mm256_storeu_ps(dwk + 8 * j, _mm256_add_ps(_mm256_loadu_ps(dwk + 8 * j), s));
          }
        }
      }
    }
  }
  alignas(32) double sums[8];
  for (int j = 0; j < NB; ++j) {
    _mm256_store_pd(sums, dbSum[2 * j]);
    _mm256_store_pd(sums + 4, dbSum[2 * j + 1]);
    for (int l = 0; l < 8; ++l) db[8 * j + l] = float(sums[l]);
  }
}

using ForwardFn = void (*)(const float*, const float*, const float*, float*, int32_t*, const Geo&, int64_t, int64_t);
using GradFn = void (*)(const float*, const float*, const float*, const int32_t*, const Geo&, int64_t, int64_t, float*, float*);

// OC = 8 * NB for NB = 1..8 (8 to 64 filters): NB accumulators, the window's best and where stay in registers.
const ForwardFn kForward[8] = {Forward<1>, Forward<2>, Forward<3>, Forward<4>, Forward<5>, Forward<6>, Forward<7>, Forward<8>};
const GradFn kGrad[8] = {FilterGrad<1>, FilterGrad<2>, FilterGrad<3>, FilterGrad<4>,
                         FilterGrad<5>, FilterGrad<6>, FilterGrad<7>, FilterGrad<8>};

bool CpuHasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace

bool ConvPoolDirectCovers(const Geo& g) {
  return CpuHasAvx2Fma() && g.kc() <= kMaxKC && (g.KH + 1) * (g.KW + 1) * g.C <= kMaxBlock && g.OC % 8 == 0 && g.OC >= 8 &&
         g.OC <= 64;
}

void ConvPoolDirectForward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH,
                           int64_t PW) {
  kForward[g.OC / 8 - 1](x, w, bias, y, arg, g, PH, PW);
}

void ConvPoolDirectFilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH,
                              int64_t PW, float* dw, float* db) {
  kGrad[g.OC / 8 - 1](dy, x, y, arg, g, PH, PW, dw, db);
}

}  // namespace ff
