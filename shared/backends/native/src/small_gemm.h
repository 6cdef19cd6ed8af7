// Products OpenBLAS does slowly: few output columns (a classifier's 10 classes: the cnn's dense layer runs
// its three products at 39-55 GFLOP/s in OpenBLAS, against ~150 for large squares) and small matrices
// (an attention head's 50x50x16: per-call setup and packing dominate). See small_gemm.cc.
#pragma once

#include <stdint.h>

namespace ff {

// C = alpha * op(A) * op(B) + beta * C, row-major, as cblas_sgemm (beta == 0: C is not read). Returns false,
// having done nothing, where it does not take the shape or the CPU lacks AVX-512: the caller uses OpenBLAS.
bool SmallGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace ff
