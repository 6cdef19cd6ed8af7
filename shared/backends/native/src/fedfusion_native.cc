// fedfusion native kernels: OpenBLAS sgemm plus im2col/col2im in C, reached through the plain C
// Node-API. Every function works directly on the memory of the Float32Arrays it is given (no copies)
// and checks every extent against the arrays' lengths before touching memory, so a wrong argument
// from JavaScript throws a RangeError instead of reading or writing out of bounds.
//
// Layouts are row-major; convolutions are NHWC with filters [KH, KW, C, OC] (TensorFlow's layout),
// which makes an im2col row [KH][KW][C] line up with the filter viewed as a (KH*KW*C) x OC matrix.
#include <node_api.h>

#include "aggregation.h"
#include "attention.h"
#include "checksum.h"
#include "codec.h"
#include "conv_core.h"
#include "conv_pool.h"
#include "cuda_gemm.h"
#include "elementwise.h"
#include "encoder.h"
#include "isa.h"
#include "napi_args.h"
#include "vector_clones.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>

// OpenBLAS's own prototypes (LP64 build: blasint is int). Declared here rather than taken from
// cblas.h so that the build does not depend on which cblas.h the system's alternatives point at.
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
int openblas_get_num_procs(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace {

using ff::Col2ImRows;
using ff::DefineMethods;
using ff::Gemm;
using ff::Geo;
using ff::GetGeo;
using ff::Im2ColRows;
using ff::kColLimit;
using ff::Workspace;
using ff::GetArgs;
using ff::GetBool;
using ff::GetF32;
using ff::GetInt;
using ff::GetIntArray;
using ff::GetNum;
using ff::GetOptF32;
using ff::Throw;

// Number of floats a row-major rows x cols matrix with leading dimension ld occupies.
int64_t MatExtent(int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return 0;
  return (rows - 1) * ld + cols;
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  napi_value a[13];
  if (!GetArgs(env, info, a, 13, "sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)")) return nullptr;
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc, lenA, lenB, lenC;
  double alpha, beta;
  float *A, *B, *C;
  if (!GetBool(env, a[0], &ta) || !GetBool(env, a[1], &tb) || !GetInt(env, a[2], &M, "M") ||
      !GetInt(env, a[3], &N, "N") || !GetInt(env, a[4], &K, "K") || !GetNum(env, a[5], &alpha, "alpha") ||
      !GetF32(env, a[6], &A, &lenA, "A") || !GetInt(env, a[7], &lda, "lda") ||
      !GetF32(env, a[8], &B, &lenB, "B") || !GetInt(env, a[9], &ldb, "ldb") ||
      !GetNum(env, a[10], &beta, "beta") || !GetF32(env, a[11], &C, &lenC, "C") ||
      !GetInt(env, a[12], &ldc, "ldc")) {
    return nullptr;
  }
  const int64_t aRows = ta ? K : M, aCols = ta ? M : K;
  const int64_t bRows = tb ? N : K, bCols = tb ? K : N;
  if (lda < std::max<int64_t>(1, aCols) || ldb < std::max<int64_t>(1, bCols) || ldc < std::max<int64_t>(1, N)) {
    Throw(env, "sgemm: leading dimension smaller than the matrix width");
    return nullptr;
  }
  if (MatExtent(aRows, aCols, lda) > lenA || MatExtent(bRows, bCols, ldb) > lenB ||
      MatExtent(M, N, ldc) > lenC) {
    Throw(env, "sgemm: a matrix does not fit in its array");
    return nullptr;
  }
  Gemm(ta, tb, M, N, K, float(alpha), A, lda, B, ldb, float(beta), C, ldc);
  return nullptr;
}

// batchMatMul(A, B, C, batchA, batchB, M, N, K, transA, transB)
// A: batchA x (M x K) (or K x M when transA), B: batchB x (K x N) (or N x K), C: batch x M x N with
// batch = max(batchA, batchB); batchA and batchB must be equal or one of them 1.
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  napi_value a[10];
  if (!GetArgs(env, info, a, 10, "batchMatMul(A, B, C, batchA, batchB, M, N, K, transA, transB)")) return nullptr;
  float *A, *B, *C;
  int64_t lenA, lenB, lenC, batchA, batchB, M, N, K;
  bool ta, tb;
  if (!GetF32(env, a[0], &A, &lenA, "A") || !GetF32(env, a[1], &B, &lenB, "B") ||
      !GetF32(env, a[2], &C, &lenC, "C") || !GetInt(env, a[3], &batchA, "batchA") ||
      !GetInt(env, a[4], &batchB, "batchB") || !GetInt(env, a[5], &M, "M") || !GetInt(env, a[6], &N, "N") ||
      !GetInt(env, a[7], &K, "K") || !GetBool(env, a[8], &ta) || !GetBool(env, a[9], &tb)) {
    return nullptr;
  }
  if (batchA != batchB && batchA != 1 && batchB != 1) {
    Throw(env, "batchMatMul: batch sizes must be equal or one of them 1");
    return nullptr;
  }
  const int64_t batch = std::max(batchA, batchB);
  if (batchA * M * K > lenA || batchB * K * N > lenB || batch * M * N > lenC) {
    Throw(env, "batchMatMul: a matrix does not fit in its array");
    return nullptr;
  }
  if (batch * M > 2147483647) {
    Throw(env, "batchMatMul: too large");
    return nullptr;
  }
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  if (batch > 1 && batchB == 1 && !ta) {
    // A's batches stacked on top of each other form one (batch*M) x K matrix: one big sgemm.
    Gemm(false, tb, batch * M, N, K, 1.f, A, std::max<int64_t>(1, lda), B, std::max<int64_t>(1, ldb), 0.f, C,
         std::max<int64_t>(1, N));
    return nullptr;
  }
  for (int64_t bi = 0; bi < batch; ++bi) {
    const float* Ab = A + (bi % batchA) * M * K;
    const float* Bb = B + (bi % batchB) * K * N;
    Gemm(ta, tb, M, N, K, 1.f, Ab, std::max<int64_t>(1, lda), Bb, std::max<int64_t>(1, ldb), 0.f, C + bi * M * N,
         std::max<int64_t>(1, N));
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
int64_t ChunkRows(const Geo& g) {
  return std::max<int64_t>(1, std::min<int64_t>(g.rows(), kColLimit / std::max<int64_t>(1, g.kc())));
}

bool ParseConvArgs(napi_env env, napi_callback_info info, float** p0, int64_t* l0, float** p1, int64_t* l1,
                   float** p2, int64_t* l2, Geo* g, const char* usage) {
  napi_value a[4];
  return GetArgs(env, info, a, 4, usage) && GetF32(env, a[0], p0, l0, "first array") && GetF32(env, a[1], p1, l1, "second array") &&
         GetF32(env, a[2], p2, l2, "third array") && GetGeo(env, a[3], g);
}

// im2col(x, col, geometry): col (N*OH*OW x KH*KW*C) from x (N x H x W x C).
// col2im(col, dx, geometry): dx (N x H x W x C) += the columns scattered back. dx is not cleared.
// Both check the image-side array against N*H*W*C and the column-side one against rows*KH*KW*C.
napi_value ColumnsCall(napi_env env, napi_callback_info info, bool toColumns) {
  const char* name = toColumns ? "im2col" : "col2im";
  napi_value a[3];
  if (!GetArgs(env, info, a, 3, toColumns ? "im2col(x, col, geometry)" : "col2im(col, dx, geometry)")) return nullptr;
  float *first, *second;
  int64_t l0, l1;
  Geo g;
  const char* names[2] = {toColumns ? "x" : "col", toColumns ? "col" : "dx"};
  if (!GetF32(env, a[0], &first, &l0, names[0]) || !GetF32(env, a[1], &second, &l1, names[1]) || !GetGeo(env, a[2], &g)) {
    return nullptr;
  }
  const int64_t imageLen = toColumns ? l0 : l1;
  const int64_t colLen = toColumns ? l1 : l0;
  if (g.N * g.H * g.W * g.C > imageLen || g.rows() * g.kc() > colLen) {
    Throw(env, (std::string(name) + ": an array is smaller than the geometry needs").c_str());
    return nullptr;
  }
  if (toColumns) Im2ColRows(first, g, 0, g.rows(), second);
  else Col2ImRows(first, g, 0, g.rows(), second);
  return nullptr;
}

napi_value Im2Col(napi_env env, napi_callback_info info) { return ColumnsCall(env, info, true); }
napi_value Col2Im(napi_env env, napi_callback_info info) { return ColumnsCall(env, info, false); }

// conv2d(x, filter, y, geometry): y (N x OH x OW x OC) = conv(x, filter).
napi_value Conv2d(napi_env env, napi_callback_info info) {
  float *x, *w, *y;
  int64_t lx, lw, ly;
  Geo g;
  if (!ParseConvArgs(env, info, &x, &lx, &w, &lw, &y, &ly, &g, "conv2d(x, filter, y, geometry)")) return nullptr;
  const int64_t rows = g.rows(), KC = g.kc();
  if (g.N * g.H * g.W * g.C > lx || KC * g.OC > lw || rows * g.OC > ly) {
    Throw(env, "conv2d: an array is smaller than the geometry needs");
    return nullptr;
  }
  if (rows == 0 || g.OC == 0) return nullptr;
  if (g.pointwise()) {
    Gemm(false, false, rows, g.OC, g.C, 1.f, x, std::max<int64_t>(1, g.C), w, g.OC, 0.f, y, g.OC);
    return nullptr;
  }
  const int64_t chunk = ChunkRows(g);
  float* col = Workspace(env, size_t(chunk * std::max<int64_t>(1, KC)));
  if (col == nullptr) {
    napi_throw_error(env, nullptr, "conv2d: out of memory for the im2col buffer");
    return nullptr;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    Im2ColRows(x, g, r0, r1, col);
    Gemm(false, false, r1 - r0, g.OC, KC, 1.f, col, std::max<int64_t>(1, KC), w, g.OC, 0.f, y + r0 * g.OC, g.OC);
  }
  return nullptr;
}

// conv2dBackpropFilter(x, dy, dw, geometry): dw (KH x KW x C x OC) = im2col(x)^T * dy.
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  float *x, *dy, *dw;
  int64_t lx, ldy, ldw;
  Geo g;
  if (!ParseConvArgs(env, info, &x, &lx, &dy, &ldy, &dw, &ldw, &g, "conv2dBackpropFilter(x, dy, dw, geometry)")) {
    return nullptr;
  }
  const int64_t rows = g.rows(), KC = g.kc();
  if (g.N * g.H * g.W * g.C > lx || rows * g.OC > ldy || KC * g.OC > ldw) {
    Throw(env, "conv2dBackpropFilter: an array is smaller than the geometry needs");
    return nullptr;
  }
  if (KC == 0 || g.OC == 0) return nullptr;
  if (rows == 0) {
    memset(dw, 0, size_t(KC * g.OC) * sizeof(float));
    return nullptr;
  }
  if (g.pointwise()) {
    Gemm(true, false, g.C, g.OC, rows, 1.f, x, g.C, dy, g.OC, 0.f, dw, g.OC);
    return nullptr;
  }
  const int64_t chunk = ChunkRows(g);
  float* col = Workspace(env, size_t(chunk * KC));
  if (col == nullptr) {
    napi_throw_error(env, nullptr, "conv2dBackpropFilter: out of memory for the im2col buffer");
    return nullptr;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    Im2ColRows(x, g, r0, r1, col);
    Gemm(true, false, KC, g.OC, r1 - r0, 1.f, col, KC, dy + r0 * g.OC, g.OC, r0 == 0 ? 0.f : 1.f, dw, g.OC);
  }
  return nullptr;
}

// conv2dBackpropInput(dy, filter, dx, geometry): dx (N x H x W x C) = col2im(dy * filter^T).
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  float *dy, *w, *dx;
  int64_t ldy, lw, ldx;
  Geo g;
  if (!ParseConvArgs(env, info, &dy, &ldy, &w, &lw, &dx, &ldx, &g, "conv2dBackpropInput(dy, filter, dx, geometry)")) {
    return nullptr;
  }
  const int64_t rows = g.rows(), KC = g.kc(), inSize = g.N * g.H * g.W * g.C;
  if (rows * g.OC > ldy || KC * g.OC > lw || inSize > ldx) {
    Throw(env, "conv2dBackpropInput: an array is smaller than the geometry needs");
    return nullptr;
  }
  if (g.pointwise()) {
    Gemm(false, true, rows, g.C, g.OC, 1.f, dy, std::max<int64_t>(1, g.OC), w, std::max<int64_t>(1, g.OC), 0.f, dx,
         std::max<int64_t>(1, g.C));
    return nullptr;
  }
  memset(dx, 0, size_t(inSize) * sizeof(float));
  if (rows == 0 || KC == 0) return nullptr;
  const int64_t chunk = ChunkRows(g);
  float* col = Workspace(env, size_t(chunk * KC));
  if (col == nullptr) {
    napi_throw_error(env, nullptr, "conv2dBackpropInput: out of memory for the im2col buffer");
    return nullptr;
  }
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t r1 = std::min(rows, r0 + chunk);
    Gemm(false, true, r1 - r0, KC, g.OC, 1.f, dy + r0 * g.OC, std::max<int64_t>(1, g.OC), w,
         std::max<int64_t>(1, g.OC), 0.f, col, KC);
    Col2ImRows(col, g, r0, r1, dx);
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Max pooling, NHWC, matching tfjs-backend-cpu: the first strictly greater value in row-major window
// order wins (NaN never does; a window with nothing above -Infinity gives -Infinity and no gradient).
// geometry: [N, H, W, C, KH, KW, strideH, strideW, padTop, padLeft, outH, outW]

struct PoolGeo {
  int64_t N, H, W, C, KH, KW, sh, sw, pt, pl, OH, OW;
};

bool GetPoolGeo(napi_env env, napi_value v, PoolGeo* g) {
  int64_t vals[12];
  if (!GetIntArray(env, v, 12, vals, "pool geometry must be [N, H, W, C, KH, KW, strideH, strideW, padTop, padLeft, outH, outW]",
                   "pool geometry entry")) {
    return false;
  }
  *g = PoolGeo{vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], vals[10], vals[11]};
  if (g->sh < 1 || g->sw < 1) return Throw(env, "strides must be >= 1");
  if (double(g->N) * g->H * g->W * g->C > 2147483647.0 * 8 || double(g->N) * g->OH * g->OW * g->C > 2147483647.0 * 8) {
    return Throw(env, "pooling too large");
  }
  return true;
}

// Calls f(xBase, window, h0, h1, w0, w1) for each output window: xBase is the offset of the window's
// image in x, `window` the index of the output position (times C: its offset in y or dy), [h0, h1) x
// [w0, w1) the input rows and columns it covers, clipped to the image.
template <class F>
inline void ForEachWindow(const PoolGeo& g, F f) {
  for (int64_t n = 0; n < g.N; ++n) {
    const int64_t base = n * g.H * g.W * g.C;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const int64_t h0 = std::max<int64_t>(0, oh * g.sh - g.pt), h1 = std::min(g.H, oh * g.sh - g.pt + g.KH);
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const int64_t w0 = std::max<int64_t>(0, ow * g.sw - g.pl), w1 = std::min(g.W, ow * g.sw - g.pl + g.KW);
        f(base, (n * g.OH + oh) * g.OW + ow, h0, h1, w0, w1);
      }
    }
  }
}

// maxPool(x, y, geometry)
FF_VECTOR_CLONES napi_value MaxPool(napi_env env, napi_callback_info info) {
  napi_value a[3];
  if (!GetArgs(env, info, a, 3, "maxPool(x, y, geometry)")) return nullptr;
  float *x, *y;
  int64_t lx, ly;
  PoolGeo g;
  if (!GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &y, &ly, "y") || !GetPoolGeo(env, a[2], &g)) {
    return nullptr;
  }
  if (g.N * g.H * g.W * g.C > lx || g.N * g.OH * g.OW * g.C > ly) {
    Throw(env, "maxPool: an array is smaller than the geometry needs");
    return nullptr;
  }
  const int64_t C = g.C;
  ForEachWindow(g, [&](int64_t base, int64_t window, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    float* out = y + window * C;
    for (int64_t c = 0; c < C; ++c) out[c] = -INFINITY;
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const float* px = x + base + (ih * g.W + iw) * C;
        for (int64_t c = 0; c < C; ++c) out[c] = px[c] > out[c] ? px[c] : out[c];
      }
    }
  });
  return nullptr;
}

// The gradient when no two windows share an x position. Per window: the maximum of each channel (the
// same comparison as MaxPool: NaN never wins), then the first position in row-major window order holding
// it takes dy; `open` is 1 while a channel's gradient is still unassigned (0 from the start for a window
// with nothing above -Infinity). Same result as the general loop below.
FF_VECTOR_CLONES void MaxPoolGradDisjoint(const float* __restrict x, const float* __restrict dy, float* __restrict dx,
                                          const PoolGeo& g, float* __restrict best, float* __restrict open) {
  const int64_t C = g.C;
  ForEachWindow(g, [&](int64_t base, int64_t window, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    for (int64_t c = 0; c < C; ++c) best[c] = -INFINITY;
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const float* px = x + base + (ih * g.W + iw) * C;
        for (int64_t c = 0; c < C; ++c) best[c] = px[c] > best[c] ? px[c] : best[c];
      }
    }
    const float* g_out = dy + window * C;
    for (int64_t c = 0; c < C; ++c) open[c] = best[c] > -INFINITY ? 1.f : 0.f;
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const int64_t off = base + (ih * g.W + iw) * C;
        const float* px = x + off;
        float* pdx = dx + off;
        for (int64_t c = 0; c < C; ++c) {  // selects, no branches: vectorised
          const float hit = px[c] == best[c] ? open[c] : 0.f;
          pdx[c] = hit != 0.f ? g_out[c] : 0.f;
          open[c] -= hit;
        }
      }
    }
  });
}

// maxPoolGrad(x, dy, dx, geometry): dx = 0, then each dy goes to its window's max position in x.
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  napi_value a[4];
  if (!GetArgs(env, info, a, 4, "maxPoolGrad(x, dy, dx, geometry)")) return nullptr;
  float *x, *dy, *dx;
  int64_t lx, ldy, ldx;
  PoolGeo g;
  if (!GetF32(env, a[0], &x, &lx, "x") || !GetF32(env, a[1], &dy, &ldy, "dy") || !GetF32(env, a[2], &dx, &ldx, "dx") ||
      !GetPoolGeo(env, a[3], &g)) {
    return nullptr;
  }
  const int64_t inSize = g.N * g.H * g.W * g.C;
  if (inSize > lx || inSize > ldx || g.N * g.OH * g.OW * g.C > ldy) {
    Throw(env, "maxPoolGrad: an array is smaller than the geometry needs");
    return nullptr;
  }
  const int64_t C = g.C;
  float* best = Workspace(env, size_t(2 * std::max<int64_t>(1, C)));
  if (best == nullptr) {
    napi_throw_error(env, nullptr, "maxPoolGrad: out of memory");
    return nullptr;
  }
  if (g.sh >= g.KH && g.sw >= g.KW) {
    // Windows do not overlap (the usual 2x2 pool with stride 2): each x position belongs to at most one
    // window, so its gradient is written, not accumulated, by branch-free loops over the channels; the
    // positions no window covers (a stride longer than the window, cropped edges) stay 0.
    memset(dx, 0, size_t(inSize) * sizeof(float));
    MaxPoolGradDisjoint(x, dy, dx, g, best, best + C);
    return nullptr;
  }
  // Overlapping windows: a position's gradient is the sum of what every window it wins sends it, added
  // in float64 and rounded once, as tfjs-backend-cpu and the wasm path's loop (wasmMaxPoolGrad.ts) do, so
  // the three agree bit for bit (float32 additions would drop small terms next to a large one).
  int64_t* where = static_cast<int64_t*>(malloc(size_t(std::max<int64_t>(1, C)) * sizeof(int64_t)));
  double* sum = static_cast<double*>(calloc(size_t(inSize), sizeof(double)));
  if (where == nullptr || sum == nullptr) {
    free(where);
    free(sum);
    napi_throw_error(env, nullptr, "maxPoolGrad: out of memory");
    return nullptr;
  }
  ForEachWindow(g, [&](int64_t base, int64_t window, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
    for (int64_t c = 0; c < C; ++c) {
      best[c] = -INFINITY;
      where[c] = -1;
    }
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t iw = w0; iw < w1; ++iw) {
        const int64_t off = base + (ih * g.W + iw) * C;
        const float* px = x + off;
        for (int64_t c = 0; c < C; ++c) {
          if (px[c] > best[c]) {
            best[c] = px[c];
            where[c] = off + c;
          }
        }
      }
    }
    const float* g_out = dy + window * C;
    for (int64_t c = 0; c < C; ++c) {
      if (where[c] >= 0) sum[where[c]] += double(g_out[c]);
    }
  });
  for (int64_t i = 0; i < inSize; ++i) dx[i] = float(sum[i]);
  free(where);
  free(sum);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// biasActivation(y, rows, cols, bias, biasMode, activation, alpha, prelu, preluMode), in place.
// Modes: 0 none, 1 scalar (1 value), 2 per column (cols values), 3 full (rows*cols values).
// Activations: 0 linear, 1 relu, 2 relu6, 3 elu, 4 leakyrelu(alpha), 5 prelu(weights), 6 sigmoid.
// Each follows tfjs-backend-cpu's formula (NaN passes through relu/relu6 as it does there).

inline float Param(const float* p, int mode, int64_t i, int64_t j, int64_t cols) {
  switch (mode) {
    case 1: return p[0];
    case 2: return p[j];
    case 3: return p[i * cols + j];
    default: return 0.f;
  }
}

bool ModeSize(int64_t mode, int64_t rows, int64_t cols, int64_t* need) {
  switch (mode) {
    case 0: *need = 0; return true;
    case 1: *need = 1; return true;
    case 2: *need = cols; return true;
    case 3: *need = rows * cols; return true;
    default: return false;
  }
}

FF_VECTOR_CLONES napi_value BiasActivation(napi_env env, napi_callback_info info) {
  napi_value a[9];
  if (!GetArgs(env, info, a, 9, "biasActivation(y, rows, cols, bias, biasMode, activation, alpha, prelu, preluMode)")) return nullptr;
  float *y, *bias, *prelu;
  int64_t ly, lb, lp, rows, cols, bmode, act, pmode;
  double alphaD;
  if (!GetF32(env, a[0], &y, &ly, "y") || !GetInt(env, a[1], &rows, "rows") || !GetInt(env, a[2], &cols, "cols") ||
      !GetOptF32(env, a[3], &bias, &lb, "bias") || !GetInt(env, a[4], &bmode, "biasMode") ||
      !GetInt(env, a[5], &act, "activation") || !GetNum(env, a[6], &alphaD, "alpha") ||
      !GetOptF32(env, a[7], &prelu, &lp, "prelu") || !GetInt(env, a[8], &pmode, "preluMode")) {
    return nullptr;
  }
  int64_t needB, needP;
  if (rows * cols > ly || !ModeSize(bmode, rows, cols, &needB) || !ModeSize(pmode, rows, cols, &needP) ||
      act > 6 || (bmode != 0 && (bias == nullptr || lb < needB)) ||
      (act == 5 && (pmode == 0 || prelu == nullptr || lp < needP))) {
    Throw(env, "biasActivation: bad sizes or modes");
    return nullptr;
  }
  const float alpha = float(alphaD);
  for (int64_t i = 0; i < rows; ++i) {
    float* row = y + i * cols;
    if (bmode == 2) {
      for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
    } else if (bmode != 0) {
      for (int64_t j = 0; j < cols; ++j) row[j] += Param(bias, int(bmode), i, j, cols);
    }
    switch (act) {
      case 1:
        for (int64_t j = 0; j < cols; ++j) row[j] = row[j] < 0.f ? 0.f : row[j];
        break;
      case 2:
        for (int64_t j = 0; j < cols; ++j) {
          const float v = row[j];
          row[j] = v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
        }
        break;
      case 3:
        for (int64_t j = 0; j < cols; ++j) {
          const float v = row[j];
          if (!(v >= 0.f)) row[j] = float(exp(double(v)) - 1.0);
        }
        break;
      case 4:
        for (int64_t j = 0; j < cols; ++j) row[j] = row[j] < 0.f ? alpha * row[j] : row[j];
        break;
      case 5:
        for (int64_t j = 0; j < cols; ++j) {
          const float v = row[j];
          row[j] = v < 0.f ? Param(prelu, int(pmode), i, j, cols) * v : v;
        }
        break;
      case 6:
        for (int64_t j = 0; j < cols; ++j) row[j] = float(1.0 / (1.0 + exp(-double(row[j]))));
        break;
      default:
        break;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// OpenBLAS information and threads.

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  const char* config = openblas_get_config();
  const char* core = openblas_get_corename();
  napi_create_string_utf8(env, config ? config : "", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "config", v);
  napi_create_string_utf8(env, core ? core : "", NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "corename", v);
  napi_create_int32(env, openblas_get_num_threads(), &v);
  napi_set_named_property(env, obj, "numThreads", v);
  napi_create_int32(env, openblas_get_num_procs(), &v);
  napi_set_named_property(env, obj, "numProcs", v);
  const char* coretype = getenv("OPENBLAS_CORETYPE");
  if (coretype) {
    napi_create_string_utf8(env, coretype, NAPI_AUTO_LENGTH, &v);
  } else {
    napi_get_undefined(env, &v);
  }
  napi_set_named_property(env, obj, "envCoretype", v);
  napi_create_string_utf8(env, ff::IsaName(ff::KernelIsa()), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "isa", v);
  return obj;
}

// keepFreedMemory(bytes): glibc's malloc keeps up to `bytes` of freed memory at the top of its heap instead
// of returning it to the kernel (M_TRIM_THRESHOLD; by default ~128 KiB, raised only as large blocks come and
// go). Returns false, changing nothing, where the user set the threshold (MALLOC_TRIM_THRESHOLD_ or
// GLIBC_TUNABLES) or the C library is not glibc. Why: shared/keepFreedMemory.ts.
napi_value KeepFreedMemory(napi_env env, napi_callback_info info) {
  napi_value a[1], result;
  int64_t bytes;
  if (!GetArgs(env, info, a, 1, "keepFreedMemory(bytes)") || !GetInt(env, a[0], &bytes, "bytes")) return nullptr;  // 0 <= bytes < 2^31
  bool applied = false;
#if defined(__GLIBC__)
  const char* tunables = getenv("GLIBC_TUNABLES");
  const bool userSet = getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || (tunables != nullptr && strstr(tunables, "trim_threshold") != nullptr);
  applied = !userSet && mallopt(M_TRIM_THRESHOLD, int(bytes)) == 1;
#endif
  napi_get_boolean(env, applied, &result);
  return result;
}

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  napi_value a[1];
  int64_t n;
  if (!GetArgs(env, info, a, 1, "setNumThreads(threads)") || !GetInt(env, a[0], &n, "threads")) return nullptr;
  if (n < 1) n = 1;
  openblas_set_num_threads(int(n));
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  ff::InitWorkspace(env);
  DefineMethods(env, exports, {
      {"sgemm", Sgemm},
      {"batchMatMul", BatchMatMul},
      {"im2col", Im2Col},
      {"col2im", Col2Im},
      {"conv2d", Conv2d},
      {"conv2dBackpropFilter", Conv2dBackpropFilter},
      {"conv2dBackpropInput", Conv2dBackpropInput},
      {"maxPool", MaxPool},
      {"maxPoolGrad", MaxPoolGrad},
      {"biasActivation", BiasActivation},
      {"info", Info},
      {"setNumThreads", SetNumThreads},
      {"keepFreedMemory", KeepFreedMemory},
  });
  ff::DefineElementwise(env, exports);
  ff::DefineAggregation(env, exports);
  ff::DefineEncoder(env, exports);
  ff::DefineAttention(env, exports);
  ff::DefineChecksum(env, exports);
  ff::DefineCodec(env, exports);
  ff::DefineConvPool(env, exports);
  ff::DefineCuda(env, exports);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
