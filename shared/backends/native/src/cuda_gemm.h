// Matrix products on an NVIDIA GPU through cuBLAS, for the addon's one sgemm wrapper (conv_core.cc's
// Gemm): the `cuda` backend. The CUDA runtime and cuBLAS are loaded with dlopen when asked for, never
// linked, so the addon builds and loads on machines without CUDA (CI, most sites) and picks up whichever
// CUDA 11, 12 or 13 the site has installed. Tensors stay in host memory (tfjs's wasm heap, the chain
// models' own arrays): a product large enough to pay for the copies goes to the GPU and back; smaller ones,
// and everything else, stay on the CPU kernels.
#pragma once

#include <node_api.h>
#include <stdint.h>

namespace ff {

// True when this thread routes products of at least its threshold to the GPU and this one is such a
// product; then it ran there (C written) and counted. False: the caller computes it on the CPU (counted
// as such). A CUDA failure also returns false — the CPU computes the product, nothing is lost — and is
// counted and kept for cudaStats().
bool CudaGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// cudaOpen, cudaRoute, cudaStats.
void DefineCuda(napi_env env, napi_value exports);

}  // namespace ff
