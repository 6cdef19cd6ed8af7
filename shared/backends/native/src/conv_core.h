// The convolution core shared by the addon's conv kernels (fedfusion_native.cc) and the fused
// conv + bias + ReLU + max-pool block (conv_pool.cc): geometry, the sgemm wrapper, im2col/col2im over a
// range of output rows, and the per-environment scratch buffer they work in.
#pragma once

#include <node_api.h>
#include <stdint.h>
#include <stddef.h>

namespace ff {

// Largest im2col buffer a single conv pass uses, in floats (2 MiB). Larger problems are done in chunks
// of output rows, so memory stays bounded whatever the batch size, and the columns are still in cache
// when sgemm reads them (the fusion stem's 3x3 convolutions ran ~15% faster than with 16 MiB passes).
constexpr int64_t kColLimit = int64_t(1) << 19;

// NHWC input, filter [KH, KW, C, OC]. Output row r is (n, oh, ow) flattened; its im2col row holds
// KH*KW*C values in [kh][kw][c] order, which lines up with the filter viewed as a (KH*KW*C) x OC matrix.
struct Geo {
  int64_t N, H, W, C, KH, KW, OC, sh, sw, dh, dw, pt, pl, OH, OW;
  int64_t rows() const { return N * OH * OW; }
  int64_t kc() const { return KH * KW * C; }
  bool pointwise() const {  // 1x1, stride 1, no padding: the input already is the im2col matrix
    return KH == 1 && KW == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && OH == H && OW == W;
  }
};

// geometry: [N, H, W, C, KH, KW, OC, strideH, strideW, dilationH, dilationW, padTop, padLeft, outH, outW].
// Throws (and returns false) on a malformed or oversized geometry.
bool GetGeo(napi_env env, napi_value v, Geo* g);

// C = alpha * op(A) * op(B) + beta * C, row-major (cblas_sgemm); K == 0 gives C = beta * C.
void Gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// col (rows [r0, r1) of the im2col matrix) from x.
void Im2ColRows(const float* x, const Geo& g, int64_t r0, int64_t r1, float* col);

// dx += col's rows [r0, r1) scattered back (the adjoint of Im2ColRows).
void Col2ImRows(const float* col, const Geo& g, int64_t r0, int64_t r1, float* dx);

// Sets up this environment's (main thread's or worker's) scratch buffer; once, when the addon is loaded.
void InitWorkspace(napi_env env);

// This environment's scratch buffer, grown to at least n floats, or nullptr when out of memory. One
// buffer: a kernel that needs several carves them out of one call.
float* Workspace(napi_env env, size_t n);

}  // namespace ff
