// The conv block's direct path for a few input channels (a first layer: KH*KW*C = 9 for 3x3 grey, 27 for
// RGB). There im2col + sgemm is a poor fit — sgemm with K = 9 runs at a fraction of its speed and the
// im2col matrix and conv output cost more memory traffic than the arithmetic — so each 2x2 pooling window
// is computed in vector registers from the input block its four patches cover: conv, bias, ReLU and the
// max forward; the filter and bias gradients backward (dx is not needed: nothing feeds a first layer).
//
// Two builds of the same loops (isa.h): AVX-512 (16 filters a vector) where the CPU has it and the
// filters come in 16s, else AVX2+FMA (8 a vector). Each output is the same FMA chain over the taps in
// both, so they agree bit for bit. Semantics as conv_pool.cc's tile path (ReLU lets NaN through, the
// first maximum wins, NaN never wins); only the order of the sums differs from it.
#include "conv_pool_direct.h"

#include "../../cc/conv_block.h"
#include "isa.h"

namespace ff {
namespace {

// The build for this geometry: AVX-512 for filters in 16s, AVX2 for filters in 8s, where the CPU (and
// FEDFUSION_NATIVE_ISA) allow; kNone where neither applies.
Isa DirectIsa(const Geo& g) {
  const Isa isa = KernelIsa();
  if (isa >= Isa::kAvx512 && g.OC % 16 == 0) return Isa::kAvx512;
  if (isa >= Isa::kAvx2 && g.OC % 8 == 0) return Isa::kAvx2;
  return Isa::kNone;
}

const DirectBuild& Build(const Geo& g) { return DirectIsa(g) == Isa::kAvx512 ? kDirectAvx512 : kDirectAvx2; }

}  // namespace

bool ConvPoolDirectCovers(const Geo& g) {
  return DirectIsa(g) != Isa::kNone && g.kc() <= kDirectMaxTaps && (g.KH + 1) * (g.KW + 1) * g.C <= kDirectMaxBlock && g.OC >= 8 &&
         g.OC <= kDirectMaxFilters;
}

void ConvPoolDirectForward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH,
                           int64_t PW) {
  Build(g).forward(x, w, bias, y, arg, g, PH, PW);
}

void ConvPoolDirectFilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH,
                              int64_t PW, float* dw, float* db) {
  Build(g).filterGrad(dy, x, y, arg, g, PH, PW, dw, db);
}

}  // namespace ff
