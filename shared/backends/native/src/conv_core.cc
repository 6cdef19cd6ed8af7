// The convolution core shared by the addon's conv kernels (fedfusion_native.cc) and the fused conv block
// (conv_pool.cc): see conv_core.h.
#include "conv_core.h"

#include "cuda_gemm.h"
#include "napi_args.h"
#include "small_gemm.h"

#include <stdlib.h>
#include <string.h>

// OpenBLAS's own prototype (LP64 build: blasint is int), declared here rather than taken from cblas.h so
// that the build does not depend on which cblas.h the system's alternatives point at.
extern "C" void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                            const float* B, int ldb, float beta, float* C, int ldc);

namespace ff {

namespace {

constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;
constexpr int kTrans = 112;

// Per-environment (main thread, each worker) scratch buffer for im2col columns.
struct Instance {
  float* ws = nullptr;
  size_t cap = 0;
};

void FinalizeInstance(napi_env, void* data, void*) {
  Instance* inst = static_cast<Instance*>(data);
  free(inst->ws);
  delete inst;
}

// Copies n floats; short runs (a first layer's few channels) inline, where a memcpy call costs more
// than the copy.
inline void CopyFloats(float* dst, const float* src, int64_t n) {
  if (n > 16) {
    memcpy(dst, src, size_t(n) * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

inline void ZeroFloats(float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = 0.f;
}

}  // namespace

void InitWorkspace(napi_env env) { napi_set_instance_data(env, new Instance(), FinalizeInstance, nullptr); }

float* Workspace(napi_env env, size_t n) {
  Instance* inst = nullptr;
  napi_get_instance_data(env, reinterpret_cast<void**>(&inst));
  if (inst == nullptr) return nullptr;
  if (inst->cap < n) {
    free(inst->ws);
    inst->ws = static_cast<float*>(malloc(n * sizeof(float)));
    inst->cap = inst->ws ? n : 0;
  }
  return inst->ws;
}

void Gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      if (beta == 0.f) {
        memset(c, 0, size_t(N) * sizeof(float));
      } else {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
    }
    return;
  }
  if (CudaGemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;  // the `cuda` backend
  if (SmallGemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  cblas_sgemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, int(M), int(N), int(K), alpha,
              A, int(lda), B, int(ldb), beta, C, int(ldc));
}

// geometry: [N, H, W, C, KH, KW, OC, strideH, strideW, dilationH, dilationW, padTop, padLeft, OH, OW]
bool GetGeo(napi_env env, napi_value v, Geo* g) {
  int64_t vals[15];
  if (!GetIntArray(env, v, 15, vals,
                   "geometry must be [N, H, W, C, KH, KW, OC, strideH, strideW, dilationH, dilationW, padTop, "
                   "padLeft, outH, outW]",
                   "geometry entry")) {
    return false;
  }
  *g = Geo{vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7],
           vals[8], vals[9], vals[10], vals[11], vals[12], vals[13], vals[14]};
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) {
    return Throw(env, "strides and dilations must be >= 1");
  }
  // Keep every product used for indexing comfortably inside int64 and every gemm dimension in int.
  const double big = 2147483647.0;
  if (double(g->N) * g->H * g->W * g->C > big * 8 || double(g->N) * g->OH * g->OW > big ||
      double(g->KH) * g->KW * g->C > big || double(g->rows()) * g->OC > big * 8 ||
      double(g->kc()) * g->OC > big * 8) {
    return Throw(env, "convolution too large");
  }
  return true;
}

void Im2ColRows(const float* x, const Geo& g, int64_t r0, int64_t r1, float* col) {
  const int64_t P = g.OH * g.OW, KC = g.kc(), rowSpan = g.KW * g.C;
  // Output position of row r0, then stepped row by row (no divisions per row).
  int64_t n = r0 / P, oh = (r0 % P) / g.OW, ow = (r0 % P) % g.OW;
  for (int64_t r = r0; r < r1; ++r) {
    float* dst = col + (r - r0) * KC;
    const float* xn = x + n * g.H * g.W * g.C;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    const bool rowInside = g.dw == 1 && iw0 >= 0 && iw0 + g.KW <= g.W;  // each filter row is contiguous in x
    for (int64_t kh = 0; kh < g.KH; ++kh, dst += rowSpan) {
      const int64_t ih = ih0 + kh * g.dh;
      if (ih < 0 || ih >= g.H) {
        ZeroFloats(dst, rowSpan);
        continue;
      }
      const float* xrow = xn + ih * g.W * g.C;
      if (rowInside) {
        CopyFloats(dst, xrow + iw0 * g.C, rowSpan);
        continue;
      }
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        float* d = dst + kw * g.C;
        if (iw < 0 || iw >= g.W) {
          ZeroFloats(d, g.C);
        } else {
          CopyFloats(d, xrow + iw * g.C, g.C);
        }
      }
    }
    if (++ow == g.OW) {
      ow = 0;
      if (++oh == g.OH) {
        oh = 0;
        ++n;
      }
    }
  }
}

// Adds the im2col rows [r0, r1) in col back into dx (the adjoint of Im2ColRows).
void Col2ImRows(const float* col, const Geo& g, int64_t r0, int64_t r1, float* dx) {
  const int64_t P = g.OH * g.OW, KC = g.kc(), rowSpan = g.KW * g.C;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / P, p = r % P, oh = p / g.OW, ow = p % g.OW;
    const float* src = col + (r - r0) * KC;
    float* dn = dx + n * g.H * g.W * g.C;
    const int64_t ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    for (int64_t kh = 0; kh < g.KH; ++kh, src += rowSpan) {
      const int64_t ih = ih0 + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      float* drow = dn + ih * g.W * g.C;
      if (g.dw == 1 && iw0 >= 0 && iw0 + g.KW <= g.W) {
        float* d = drow + iw0 * g.C;
        for (int64_t i = 0; i < rowSpan; ++i) d[i] += src[i];
        continue;
      }
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        float* d = drow + iw * g.C;
        const float* s = src + kw * g.C;
        for (int64_t c = 0; c < g.C; ++c) d[c] += s[c];
      }
    }
  }
}

}  // namespace ff
