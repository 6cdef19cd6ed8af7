/*
 * A stand-in GPU for the tests of the `cuda` backend, which CI (no GPU) cannot otherwise run: the CUDA
 * runtime and cuBLAS entry points src/cuda_gemm.cc loads, built as libcudart.so.13 and libcublas.so.13.
 * "Device" memory is host memory; cublasSgemm_v2 is the column-major product as the BLAS defines it,
 * written out independently of OpenBLAS, so the addon's row-major-to-column-major mapping, its dense
 * copies of padded matrices and its fallbacks are checked against the CPU path. STUB_CUDA_FAIL=malloc
 * or =sgemm makes that call fail; STUB_CUDA_DEVICES sets the device count (default 1).
 */
#include <stdlib.h>
#include <string.h>

static int failing(const char* what) {
  const char* s = getenv("STUB_CUDA_FAIL");
  return s != NULL && strcmp(s, what) == 0;
}

int cudaGetDeviceCount(int* n) {
  const char* s = getenv("STUB_CUDA_DEVICES");
  *n = s != NULL ? atoi(s) : 1;
  return 0;
}
/* CUDA 13 has only the plain name (12 adds _v2). */
int cudaGetDeviceProperties(void* props, int device) {
  (void)device;
  strcpy((char*)props, "fedfusion stub GPU");
  return 0;
}
int cudaDeviceGetAttribute(int* v, int attr, int device) {
  (void)attr;
  (void)device;
  *v = 7;
  return 0;
}
int cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *free_bytes = *total = (size_t)2 << 30;
  return 0;
}
int cudaRuntimeGetVersion(int* v) { *v = 13000; return 0; }
int cudaDriverGetVersion(int* v) { *v = 13010; return 0; }
int cudaMalloc(void** p, size_t n) {
  if (failing("malloc")) return 2;
  *p = malloc(n);
  return *p != NULL ? 0 : 2;
}
int cudaFree(void* p) { free(p); return 0; }
int cudaMemcpy(void* d, const void* s, size_t n, int kind) {
  (void)kind;
  memcpy(d, s, n);
  return 0;
}
int cudaMemcpy2D(void* d, size_t dpitch, const void* s, size_t spitch, size_t width, size_t height, int kind) {
  (void)kind;
  for (size_t i = 0; i < height; ++i) memcpy((char*)d + i * dpitch, (const char*)s + i * spitch, width);
  return 0;
}
const char* cudaGetErrorString(int e) { return e == 2 ? "out of memory (stub)" : "stub error"; }

int cublasCreate_v2(void** handle) {
  *handle = (void*)1;
  return 0;
}
/* C (m x n, column-major) = alpha * op(A) * op(B) + beta * C; op 0 = N, 1 = T. */
int cublasSgemm_v2(void* handle, int ta, int tb, int m, int n, int k, const float* alpha, const float* A, int lda,
                   const float* B, int ldb, const float* beta, float* C, int ldc) {
  (void)handle;
  if (failing("sgemm")) return 13; /* CUBLAS_STATUS_EXECUTION_FAILED */
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double sum = 0;
      for (int l = 0; l < k; ++l) {
        double a = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
        double b = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb];
        sum += a * b;
      }
      float* c = &C[i + (size_t)j * ldc];
      *c = (float)(*alpha * sum + (*beta == 0.f ? 0.0 : (double)*beta * *c));
    }
  }
  return 0;
}
