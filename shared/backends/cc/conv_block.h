// What the conv block's direct path (a first layer: few input taps) shares between the native addon
// (native/src/conv_pool_direct.cc, AVX2) and the WebAssembly SIMD kernels (simd/src/kernels.cc): where a
// pooling window's four patches lie in the input, and how that input is gathered. Templates over the
// caller's geometry (fields H, W, pt, pl) and taps (KH, KW, C), whatever their integer type.
#pragma once

namespace ff {

// A window's four patches all lie in one (KH+1) x (KW+1) x C block of the input: it is read once, and
// patch element k = (kh, kw, c) of position pos (0..3, row-major in the 2x2 window) is block[TapOffset(...)].
template <class I>
constexpr I TapOffset(I KW, I C, int pos, I k) {
  return ((k / (KW * C) + (pos >> 1)) * (KW + 1) + (k / C) % KW + (pos & 1)) * C + k % C;
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
