// The conv block's direct path for a few input channels (conv_pool_direct.cc); conv_pool.cc uses it
// where it covers the block and its tile path (im2col + sgemm) elsewhere.
#pragma once

#include <stdint.h>

#include "conv_core.h"

namespace ff {

// True where isa.h allows AVX2 (8, 16, ..., 64 filters) or AVX-512 (16, 32, 48, 64), for KH*KW*C <= 32
// (stride 1, as every block).
bool ConvPoolDirectCovers(const Geo& g);

// y, argmax [N, PH, PW, OC] as conv_pool.cc's Forward.
void ConvPoolDirectForward(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH,
                           int64_t PW);

// The filter and bias gradients as conv_pool.cc's Backward without dx.
void ConvPoolDirectFilterGrad(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH,
                              int64_t PW, float* dw, float* db);

// The builds the two above choose between (conv_pool_direct_avx2.cc, conv_pool_direct_avx512.cc).
struct DirectBuild {
  void (*forward)(const float* x, const float* w, const float* bias, float* y, int32_t* arg, const Geo& g, int64_t PH, int64_t PW);
  void (*filterGrad)(const float* dy, const float* x, const float* y, const int32_t* arg, const Geo& g, int64_t PH, int64_t PW, float* dw,
                     float* db);
};
extern const DirectBuild kDirectAvx2;
extern const DirectBuild kDirectAvx512;

}  // namespace ff
