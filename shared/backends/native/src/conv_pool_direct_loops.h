// The direct path's loops (conv_pool_direct.cc), written once over a vector type S (the operations of
// conv_pool_direct_avx2.cc and conv_pool_direct_avx512.cc) and compiled into each of those files under its
// instruction set (#pragma GCC target before the include). Everything here is in an unnamed namespace, so
// each file gets copies of its own: no function built for AVX-512 can stand in for the AVX2 one at link
// time. Include conv_block.h, conv_pool_direct.h and the system headers before the pragma: what they define
// inline (Geo, the taps, GatherBlock) then stays built for any x86-64 wherever the linker takes it from.
#pragma once

#include "conv_pool_direct.h"

namespace ff {
namespace {

// A window's four patches all lie in one (KH+1) x (KW+1) x C block of the input; the taps (FixedTaps,
// RuntimeTaps: ../../cc/conv_block.h) say where in it each patch element is.

// Filters are done in groups of G = 2 vectors (a last group of 1): the four positions' G accumulators (8),
// the bias and the running max stay in registers (AVX2 has 16), each weight load feeds four FMAs, and the
// eight independent FMA chains keep both FMA ports busy. (All filters at once spilled on AVX2.)
constexpr int kGroup = 2;

// The filters as the loops read them: a group's G vectors of L filters for tap k at (k * G + j) * L, the
// group of vectors j0.. at j0 * L * KC. Every weight a window's loop reads is then at a constant offset from
// its group's start (with w + k * OC the compiler kept a pointer per tap, spilled to the stack).
inline int64_t GroupSize(int64_t j0, int64_t vectors) { return j0 + kGroup <= vectors ? kGroup : 1; }

template <bool kPack>
void Repack(float* w, int64_t KC, int64_t OC, int L, float* packed) {
  const int64_t vectors = OC / L;
  for (int64_t j0 = 0, G; j0 < vectors; j0 += G) {
    G = GroupSize(j0, vectors);
    for (int64_t k = 0; k < KC; ++k) {
      for (int64_t j = 0; j < G; ++j) {
        float* p = packed + j0 * L * KC + (k * G + j) * L;
        float* u = w + k * OC + (j0 + j) * L;
        if (kPack) memcpy(p, u, size_t(L) * sizeof(float));
        else memcpy(u, p, size_t(L) * sizeof(float));
      }
    }
  }
}

template <class S, int G, class Taps>
inline void WindowForward(const float* block, const Taps& t, const float* wg, const float* bias, float* y,
                                                         int32_t* arg) {
  constexpr int L = S::kLanes;
  const typename S::V zero = S::Zero();
  typename S::V acc[4][G];
  for (int pos = 0; pos < 4; ++pos) {
    for (int j = 0; j < G; ++j) acc[pos][j] = zero;
  }
#pragma GCC unroll 32
  for (int64_t k = 0; k < t.KC; ++k) {
    typename S::V wv[G];
    for (int j = 0; j < G; ++j) wv[j] = S::Load(wg + (k * G + j) * L);
    for (int pos = 0; pos < 4; ++pos) {
      const typename S::V v = S::Broadcast(&block[t.Off(pos, k)]);
      for (int j = 0; j < G; ++j) acc[pos][j] = S::Fma(v, wv[j], acc[pos][j]);
    }
  }
  // max(a, b) returns b when either is NaN or both are equal (±0 included), which gives exactly the
  // blend-based rules of the tile path: ReLU = max(0, v) keeps NaN and -0; the running max = max(v, best)
  // keeps best for a NaN or a tie (the first maximum wins, NaN never does). Only where needs a compare.
  for (int j = 0; j < G; ++j) {
    const typename S::V b = S::LoadU(bias + L * j);
    typename S::V best = S::Max(S::Max(zero, S::Add(acc[0][j], b)), S::Set(-INFINITY));
    typename S::I where = S::NoWhere();
    for (int pos = 1; pos < 4; ++pos) {
      const typename S::V v = S::Max(zero, S::Add(acc[pos][j], b));
      where = S::Mark(where, S::Greater(v, best), pos);
      best = S::Max(v, best);
    }
    S::StoreU(y + L * j, best);
    S::StoreWhere(arg + L * j, where);
  }
}

template <class S, class Taps>
inline void Forward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g,
                                                   const Taps& t, int64_t PH, int64_t PW) {
  constexpr int L = S::kLanes;
  const int64_t OC = g.OC, vectors = OC / L;
  alignas(64) float block[kDirectMaxBlock];
  alignas(64) float packed[kDirectMaxTaps * kDirectMaxFilters];
  Repack<true>(const_cast<float*>(w), t.KC, OC, L, packed);
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        GatherBlock(x, g, t, n, ph, pw, block);
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        for (int64_t j = 0, G; j < vectors; j += G) {
          G = GroupSize(j, vectors);
          const float* wg = packed + j * L * t.KC;
          if (G == kGroup) WindowForward<S, kGroup>(block, t, wg, bias + L * j, y + out + L * j, arg + out + L * j);
          else WindowForward<S, 1>(block, t, wg, bias + L * j, y + out + L * j, arg + out + L * j);
        }
      }
    }
  }
}

// The filter and bias gradients. The pooled gradient of a window goes to its winning position, where the
// ReLU passed it (pooled value > 0); db sums it in float64. A window whose gradient is zero in a group of
// filters (e.g. every unit off) is skipped there, its input block gathered only when some group needs it.
// Two loop orders, by where the gradients add up:
//  - all filters in one group whose gradients fit in registers beside a window's 4G masked gradients and
//    its 4 broadcasts (AVX-512, 3x3 grey, 32 filters: 18 + 8 + 4 of 32): one pass over the windows, the
//    gradients in registers throughout (10% faster than in memory);
//  - otherwise window by window, each group's gradients added in memory (AVX2: kept in registers across
//    windows one group at a time, they spilled, and the second pass over the windows cost another 10%).
template <class S, class Taps>
constexpr bool GradientsInRegisters(int64_t vectors) {
  if constexpr (Taps::kFixed) return vectors == kGroup && Taps::KC * kGroup + 4 * kGroup + 4 <= S::kRegisters;
  return false;
}

template <class S, int G, class Taps, bool kInRegisters>
inline void WindowFilterGrad(const float* dy, const float* y, const int32_t* arg, const Taps& t, float* dwg, typename S::V (&acc)[kDirectMaxTaps][G],
                             double* db, const float* x, const Geo& g, int64_t n, int64_t ph, int64_t pw, float* block, bool& gathered) {
  constexpr int L = S::kLanes;
  using V = typename S::V;
  V v[4][G];
  bool any = false;
  for (int j = 0; j < G; ++j) {
    const V g0 = S::Keep(S::LoadU(dy + L * j), S::Greater(S::LoadU(y + L * j), S::Zero()));
    for (int pos = 0; pos < 4; ++pos) v[pos][j] = S::Keep(g0, S::At(arg + L * j, pos));
    S::AddToDoubles(db + L * j, g0);
    any = any || S::AnyNonZero(g0);
  }
  if (!any) return;
  if (!gathered) GatherBlock(x, g, t, n, ph, pw, block);
  gathered = true;
#pragma GCC unroll 32
  for (int64_t k = 0; k < t.KC; ++k) {
    const V p0 = S::Broadcast(&block[t.Off(0, k)]), p1 = S::Broadcast(&block[t.Off(1, k)]);
    const V p2 = S::Broadcast(&block[t.Off(2, k)]), p3 = S::Broadcast(&block[t.Off(3, k)]);
    for (int j = 0; j < G; ++j) {
      V s = S::Mul(p0, v[0][j]);
      s = S::Fma(p1, v[1][j], s);
      s = S::Fma(p2, v[2][j], s);
      s = S::Fma(p3, v[3][j], s);
      if constexpr (kInRegisters) acc[k][j] = S::Add(acc[k][j], s);
      else S::Store(dwg + (k * G + j) * L, S::Add(S::Load(dwg + (k * G + j) * L), s));
    }
  }
}

template <class S, bool kInRegisters, class Taps>
inline void FilterGradLoop(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, const Taps& t, int64_t PH,
                           int64_t PW, float* packed, double* db) {
  constexpr int L = S::kLanes;
  const int64_t OC = g.OC, vectors = OC / L;
  alignas(64) float block[kDirectMaxBlock];
  typename S::V acc[kDirectMaxTaps][kGroup];
  if constexpr (kInRegisters) {
#pragma GCC unroll 32
    for (int64_t k = 0; k < t.KC; ++k)
      for (int j = 0; j < kGroup; ++j) acc[k][j] = S::Zero();
  } else {
    memset(packed, 0, size_t(t.KC * OC) * sizeof(float));
  }
  typename S::V single[kDirectMaxTaps][1];  // the last group of one vector (memory only)
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t ph = 0; ph < PH; ++ph) {
      for (int64_t pw = 0; pw < PW; ++pw) {
        const int64_t out = ((n * PH + ph) * PW + pw) * OC;
        bool gathered = false;
        for (int64_t j = 0, G; j < vectors; j += G) {
          G = GroupSize(j, vectors);
          const int64_t o = out + L * j;
          float* dwg = packed + j * L * t.KC;
          if (G == kGroup) {
            WindowFilterGrad<S, kGroup, Taps, kInRegisters>(dy + o, y + o, arg + o, t, dwg, acc, db + L * j, x, g, n, ph, pw, block, gathered);
          } else {
            WindowFilterGrad<S, 1, Taps, false>(dy + o, y + o, arg + o, t, dwg, single, db + L * j, x, g, n, ph, pw, block, gathered);
          }
        }
      }
    }
  }
  if constexpr (kInRegisters) {
#pragma GCC unroll 32
    for (int64_t k = 0; k < t.KC; ++k)
      for (int j = 0; j < kGroup; ++j) S::Store(packed + (k * kGroup + j) * L, acc[k][j]);
  }
}

template <class S, class Taps>
inline void FilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, const Taps& t, int64_t PH,
                       int64_t PW, float* dw, float* db) {
  alignas(64) double dbSum[kDirectMaxFilters] = {};
  alignas(64) float packed[kDirectMaxTaps * kDirectMaxFilters];
  if (GradientsInRegisters<S, Taps>(g.OC / S::kLanes)) FilterGradLoop<S, true>(dy, x, y, arg, g, t, PH, PW, packed, dbSum);
  else FilterGradLoop<S, false>(dy, x, y, arg, g, t, PH, PW, packed, dbSum);
  Repack<false>(dw, t.KC, g.OC, S::kLanes, packed);
  for (int64_t o = 0; o < g.OC; ++o) db[o] = float(dbSum[o]);
}

// The two entry points of a build, for any taps.
template <class S>
void DirectForward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH, int64_t PW) {
  WithTaps(g.KH, g.KW, g.C, [&](const auto& t) { Forward<S>(x, w, bias, y, arg, g, t, PH, PW); });
}

template <class S>
void DirectFilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH, int64_t PW, float* dw,
                      float* db) {
  WithTaps(g.KH, g.KW, g.C, [&](const auto& t) { FilterGrad<S>(dy, x, y, arg, g, t, PH, PW, dw, db); });
}

}  // namespace
}  // namespace ff
