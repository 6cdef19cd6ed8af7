// What the conv block's direct path (a first layer: few input taps) shares between the native addon
// (native/src/conv_pool_direct.cc, AVX2) and the WebAssembly SIMD kernels (simd/src/kernels.cc): its
// limits, where a pooling window's four patches lie in the input, and how that input is gathered.
// Templates over the caller's integer type and geometry (fields H, W, pt, pl).
#pragma once

namespace ff {

constexpr int kDirectMaxTaps = 32;   // KH*KW*C
constexpr int kDirectMaxBlock = 64;  // (KH+1)*(KW+1)*C: the input a pooling window's four patches cover
constexpr int kDirectMaxFilters = 64;

// A window's four patches all lie in one (KH+1) x (KW+1) x C block of the input: it is read once, and
// patch element k = (kh, kw, c) of position pos (0..3, row-major in the 2x2 window) is block[TapOffset(...)].
template <class I>
constexpr I TapOffset(I KW, I C, int pos, I k) {
  return ((k / (KW * C) + (pos >> 1)) * (KW + 1) + (k / C) % KW + (pos & 1)) * C + k % C;
}

// f(k) for k = I..N-1, unrolled at compile time.
template <int I, int N>
struct Unroll {
  template <class F>
  static inline __attribute__((always_inline)) void Run(F&& f) {
    f(I);
    Unroll<I + 1, N>::Run(f);
  }
};
template <int N>
struct Unroll<N, N> {
  template <class F>
  static inline void Run(F&&) {}
};

// Where patch element k of position pos is: FixedTaps<KH, KW, C> at compile time for the common first
// layers, so that the loops unroll and every load reads the block at a constant offset (with the table,
// an index load per broadcast made the loop load-bound); RuntimeTaps from a table for any other.
template <class I, I FKH, I FKW, I FC>
struct FixedTaps {
  static constexpr bool kFixed = true;
  static constexpr I KC = FKH * FKW * FC, KH = FKH, KW = FKW, C = FC;
  static constexpr I Off(int pos, I k) { return TapOffset<I>(KW, C, pos, k); }
  // Every tap, unrolled: with k a constant, each Off folds to a constant offset.
  template <class F>
  static inline __attribute__((always_inline)) void ForEachTap(F&& f) {
    Unroll<0, int(KC)>::Run(f);
  }
};

template <class I>
struct RuntimeTaps {
  static constexpr bool kFixed = false;
  I KC, KH, KW, C;
  I offsets[4][kDirectMaxTaps];
  RuntimeTaps(I kh, I kw, I c) : KC(kh * kw * c), KH(kh), KW(kw), C(c) {
    for (int pos = 0; pos < 4; ++pos)
      for (I k = 0; k < KC; ++k) offsets[pos][k] = TapOffset<I>(KW, C, pos, k);
  }
  I Off(int pos, I k) const { return offsets[pos][k]; }
  template <class F>
  inline void ForEachTap(F&& f) const {
    for (I k = 0; k < KC; ++k) f(k);
  }
};

// Calls f with the taps of a KH x KW x C kernel (KH*KW*C <= kDirectMaxTaps): compile-time ones for 3x3 grey
// and RGB first layers, else the table.
template <class I, class F>
void WithTaps(I KH, I KW, I C, F&& f) {
  if (KH == 3 && KW == 3 && C == 1) return f(FixedTaps<I, 3, 3, 1>());
  if (KH == 3 && KW == 3 && C == 3) return f(FixedTaps<I, 3, 3, 3>());
  f(RuntimeTaps<I>(KH, KW, C));
}

// The input block of window (n, ph, pw), zero where it reaches into the padding.
template <class Geo, class Taps, class I>
inline void GatherBlock(const float* x, const Geo& g, const Taps& t, I n, I ph, I pw, float* block) {
  const float* xn = x + n * g.H * g.W * t.C;
  const I ih0 = 2 * ph - g.pt, iw0 = 2 * pw - g.pl, rowLen = (t.KW + 1) * t.C;
  const bool inside = ih0 >= 0 && ih0 + t.KH + 1 <= g.H && iw0 >= 0 && iw0 + t.KW + 1 <= g.W;
  for (I r = 0; r <= t.KH; ++r, block += rowLen) {
    const I ih = ih0 + r;
    if (inside) {
      const float* s = xn + (ih * g.W + iw0) * t.C;
      for (I i = 0; i < rowLen; ++i) block[i] = s[i];
      continue;
    }
    for (I col = 0; col <= t.KW; ++col) {
      const I iw = iw0 + col;
      const bool in = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
      const float* s = xn + (ih * g.W + iw) * t.C;
      for (I c = 0; c < t.C; ++c) block[col * t.C + c] = in ? s[c] : 0.f;
    }
  }
}

}  // namespace ff
