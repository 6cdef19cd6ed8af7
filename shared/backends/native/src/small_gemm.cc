// Products OpenBLAS does slowly (small_gemm.h), in AVX-512 registers with no packing of A and none of B
// unless B is transposed. C is done in blocks of MR rows x NV vectors of 16 columns (the last vector masked,
// so a 10-class row is one vector): per k, NV loads of B's row k, MR broadcasts of A's column k and
// MR*NV FMAs into accumulators that stay in registers for a chunk of 256 values of K. Each output is one FMA
// chain per chunk, over k in order, then alpha and beta (beta = 1 for the chunks after the first).
#include "small_gemm.h"

#include "isa.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

extern "C" int openblas_get_num_threads(void);

namespace ff {
namespace {

constexpr int64_t kLanes = 16;
constexpr int kMaxVectors = 4;
constexpr int64_t kDepth = 256;

// Rows per block for NV vectors: MR*NV accumulators (at most 24 of the 32 registers) leave room for B's
// NV vectors and a broadcast; with one vector, 16 rows keep the loads (B's row and 16 broadcasts) and the
// 16 FMAs per k in balance.
constexpr int RowsFor(int vectors) { return vectors == 1 ? 16 : vectors == 2 ? 12 : vectors == 3 ? 8 : 6; }

// One column block's operands: a(i, k) = A[i * ai + k * ak]; row k of op(B) is B + k * ldb, contiguous, from
// the block's first column; C points at the block's first column.
struct Operands {
  const float* A;
  int64_t ai, ak;
  const float* B;
  int64_t ldb;
  int64_t K;
  float alpha, beta;
  float* C;
  int64_t ldc;
};

template <int MR, int NV>
__attribute__((target("avx512f,avx512vl,fma"))) void Block(const Operands& o, int64_t i0, __mmask16 last) {
  // Locals, not o's fields: stores through C could alias o, and the compiler would then keep the
  // accumulators in memory.
  const int64_t K = o.K, ai = o.ai, ak = o.ak, ldb = o.ldb, ldc = o.ldc;
  const float* a = o.A + i0 * ai;
  const float* b = o.B;
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k, a += ak, b += ldb) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_maskz_loadu_ps(j == NV - 1 ? last : __mmask16(0xFFFF), b + j * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * ai]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(o.alpha), beta = _mm512_set1_ps(o.beta);
  const bool readC = o.beta != 0.f;
  float* c = o.C + i0 * ldc;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i, c += ldc) {
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const __mmask16 m = j == NV - 1 ? last : __mmask16(0xFFFF);
      const __m512 old = readC ? _mm512_maskz_loadu_ps(m, c + j * kLanes) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(c + j * kLanes, m, _mm512_add_ps(_mm512_mul_ps(alpha, acc[i][j]), _mm512_mul_ps(beta, old)));
    }
  }
}

using BlockFn = void (*)(const Operands&, int64_t, __mmask16);

// kBlocks[NV - 1][MR - 1]: every row count up to RowsFor(NV), so the last rows of C get a block of their own.
template <int NV, size_t... R>
constexpr std::array<BlockFn, 16> RowBlocks(std::index_sequence<R...>) {
  return {{(int(R) < RowsFor(NV) ? &Block<(int(R) < RowsFor(NV) ? int(R) + 1 : 1), NV> : nullptr)...}};
}
constexpr std::array<BlockFn, 16> kBlocks[kMaxVectors] = {
    RowBlocks<1>(std::make_index_sequence<16>()), RowBlocks<2>(std::make_index_sequence<16>()),
    RowBlocks<3>(std::make_index_sequence<16>()), RowBlocks<4>(std::make_index_sequence<16>())};

// Where it beat OpenBLAS 0.3.21 (SkylakeX kernels, one thread) on a Xeon with AVX-512: up to 192 columns
// (A is then read at most three times), e.g. 1.8x on the cnn's 32x10x5408 dense product, 1.4x on the
// encoder's 1600x64x64, 1.2x on a conv tile's 6272x64x288, and any width when A is small enough to stay in
// cache while it is read once per 64 columns (1.4x on the cnn's 32x5408x10); not on wide products with a
// large A (256 columns, 512³ squares), where OpenBLAS's packing pays off. Threads: OpenBLAS splits products
// across its threads and this does not, so with more than one only the small ones come here.
bool Takes(int64_t M, int64_t N, int64_t K) {
  const int64_t work = M * N * K;
  if ((N > 192 && M * K > 16384) || work > (int64_t(1) << 28)) return false;
  return openblas_get_num_threads() == 1 || work <= (int64_t(1) << 20);
}

}  // namespace

bool SmallGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (KernelIsa() != Isa::kAvx512 || !Takes(M, N, K)) return false;
  constexpr int64_t kBlockWidth = kMaxVectors * kLanes;
  // op(B) = Bᵀ: a column block's rows of op(B) are gathered into a K x 64 panel (B's rows, read in order).
  thread_local std::vector<float> panel;
  if (tb && panel.size() < size_t(K * kBlockWidth)) panel.resize(size_t(K * kBlockWidth));
  for (int64_t j0 = 0; j0 < N; j0 += kBlockWidth) {
    const int64_t width = std::min<int64_t>(N - j0, kBlockWidth);
    const int vectors = int((width + kLanes - 1) / kLanes);
    const __mmask16 last = __mmask16((1u << (width - (vectors - 1) * kLanes)) - 1u);
    Operands o{A, ta ? 1 : lda, ta ? lda : 1, B + j0, ldb, K, alpha, beta, C + j0, ldc};
    if (tb) {
      float* p = panel.data();
      for (int64_t n = 0; n < width; ++n) {
        const float* row = B + (j0 + n) * ldb;
        for (int64_t k = 0; k < K; ++k) p[k * kBlockWidth + n] = row[k];
      }
      o.B = p;
      o.ldb = kBlockWidth;
    }
    // K in chunks: a chunk of the panel (kDepth x 64 floats) stays in L2 while every row block reads it.
    const int rows = RowsFor(vectors);
    for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += kDepth) {  // K = 0 still gives C = beta·C
      Operands chunk = o;
      chunk.K = std::min<int64_t>(kDepth, K - k0);
      chunk.A = o.A + k0 * o.ak;
      chunk.B = o.B + k0 * o.ldb;
      if (k0 > 0) chunk.beta = 1.f;
      for (int64_t i0 = 0; i0 < M; i0 += rows) {
        const int64_t mr = std::min<int64_t>(rows, M - i0);
        kBlocks[vectors - 1][size_t(mr - 1)](chunk, i0, last);
      }
    }
  }
  return true;
}

}  // namespace ff
