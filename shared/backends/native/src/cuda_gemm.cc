// See cuda_gemm.h. Only the few CUDA runtime and cuBLAS entry points used here are declared, with the
// C ABI both libraries have kept since CUDA 10, so no CUDA header or toolkit is needed to build.
#include "cuda_gemm.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <atomic>
#include <mutex>
#include <string>

#include "napi_args.h"

namespace ff {
namespace {

using cudaError = int;
using cublasStatus = int;
using cublasHandle = void*;
constexpr int kHostToDevice = 1, kDeviceToHost = 2;
constexpr int kCublasOpN = 0, kCublasOpT = 1;
constexpr int kAttrMultiProcessorCount = 16;

struct Cuda {
  void* cudart = nullptr;
  void* cublas = nullptr;
  int major = 0;  // the CUDA major version whose libraries were found (11, 12 or 13)
  std::string device;
  int runtimeVersion = 0, driverVersion = 0, multiprocessors = 0;
  size_t memoryBytes = 0;
  cudaError (*getDeviceCount)(int*);
  cudaError (*getDeviceProperties)(void*, int);
  cudaError (*deviceGetAttribute)(int*, int, int);
  cudaError (*memGetInfo)(size_t*, size_t*);
  cudaError (*runtimeGetVersion)(int*);
  cudaError (*driverGetVersion)(int*);
  cudaError (*malloc)(void**, size_t);
  cudaError (*free)(void*);
  cudaError (*memcpy)(void*, const void*, size_t, int);
  cudaError (*memcpy2D)(void*, size_t, const void*, size_t, size_t, size_t, int);
  const char* (*getErrorString)(cudaError);
  cublasStatus (*cublasCreate)(cublasHandle*);
  cublasStatus (*cublasSgemm)(cublasHandle, int, int, int, int, int, const float*, const float*, int, const float*,
                              int, const float*, float*, int);
};

std::mutex openLock;
Cuda* opened = nullptr;  // set once, by the first successful cudaOpen, and never freed (the libraries stay loaded)
std::string openFailure;

// Per thread (the main thread, each worker): its cuBLAS handle, device buffers grown to the largest
// product seen, the routing threshold and the counters. Neither handle nor buffers are freed when the
// thread ends: at process exit CUDA may already be shutting down, and the driver reclaims them anyway.
struct ThreadState {
  cublasHandle handle = nullptr;
  float* dev[3] = {nullptr, nullptr, nullptr};
  size_t cap[3] = {0, 0, 0};
  double minFlops = 0;  // 0: this thread does not route to the GPU
  double gpuGemms = 0, gpuFlops = 0, cpuGemms = 0, cpuFlops = 0, failures = 0;
  std::string lastError;
};
thread_local ThreadState state;

void* OpenLibrary(const std::string& dirs, const std::string& file, std::string* tried) {
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    if (end > start) {
      std::string path = dirs.substr(start, end - start) + "/" + file;
      if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    }
    start = end + 1;
  }
  // The loader's own search: LD_LIBRARY_PATH, the ld.so cache (ldconfig), the default directories.
  if (void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  const char* why = dlerror();
  if (tried->empty()) *tried = why ? why : file;
  return nullptr;
}

template <class F>
bool Resolve(void* lib, const char* name, F* out, std::string* missing) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr && missing->empty()) *missing = name;
  return *out != nullptr;
}

std::string CudaErrorText(const Cuda* c, cudaError e) {
  const char* s = c->getErrorString ? c->getErrorString(e) : nullptr;
  return std::string(s ? s : "unknown CUDA error") + " (" + std::to_string(e) + ")";
}

// Loads the runtime and cuBLAS of one CUDA major version (the newest found) and checks for a device.
// Returns nullptr and sets *why when there is none to use.
Cuda* Load(const std::string& dirs, std::string* why) {
  std::string tried;
  for (int major : {13, 12, 11}) {
    void* rt = OpenLibrary(dirs, "libcudart.so." + std::to_string(major), &tried);
    if (rt == nullptr) continue;
    void* bl = OpenLibrary(dirs, "libcublas.so." + std::to_string(major), &tried);
    if (bl == nullptr) {
      *why = "found libcudart.so." + std::to_string(major) + " but not libcublas.so." + std::to_string(major) +
             " (put cuBLAS on LD_LIBRARY_PATH or in FEDFUSION_CUDA_LIB_DIRS)";
      dlclose(rt);
      return nullptr;
    }
    Cuda* c = new Cuda();
    c->cudart = rt;
    c->cublas = bl;
    c->major = major;
    std::string missing;
    bool ok = Resolve(rt, "cudaGetDeviceCount", &c->getDeviceCount, &missing) &&
              // CUDA 12 names the current struct's getter _v2; 11 and 13 have only the plain name.
              (Resolve(rt, "cudaGetDeviceProperties_v2", &c->getDeviceProperties, &missing) ||
               (missing.clear(), Resolve(rt, "cudaGetDeviceProperties", &c->getDeviceProperties, &missing))) &&
              Resolve(rt, "cudaDeviceGetAttribute", &c->deviceGetAttribute, &missing) &&
              Resolve(rt, "cudaMemGetInfo", &c->memGetInfo, &missing) &&
              Resolve(rt, "cudaRuntimeGetVersion", &c->runtimeGetVersion, &missing) &&
              Resolve(rt, "cudaDriverGetVersion", &c->driverGetVersion, &missing) &&
              Resolve(rt, "cudaMalloc", &c->malloc, &missing) && Resolve(rt, "cudaFree", &c->free, &missing) &&
              Resolve(rt, "cudaMemcpy", &c->memcpy, &missing) && Resolve(rt, "cudaMemcpy2D", &c->memcpy2D, &missing) &&
              Resolve(rt, "cudaGetErrorString", &c->getErrorString, &missing) &&
              Resolve(bl, "cublasCreate_v2", &c->cublasCreate, &missing) &&
              Resolve(bl, "cublasSgemm_v2", &c->cublasSgemm, &missing);
    if (!ok) {
      *why = "the CUDA " + std::to_string(major) + " libraries lack " + missing;
      delete c;
      return nullptr;
    }
    int count = 0;
    cudaError e = c->getDeviceCount(&count);
    if (e != 0 || count < 1) {
      *why = e != 0 ? "no usable CUDA device: " + CudaErrorText(c, e) : std::string("no CUDA device");
      delete c;
      return nullptr;
    }
    // cudaDeviceProp has begun with `char name[256]` in every CUDA version; the rest of its layout has
    // changed, so it is read into a buffer larger than any version's struct and only the name is used.
    static char props[16384];
    if (c->getDeviceProperties(props, 0) == 0) c->device.assign(props, strnlen(props, 256));
    c->deviceGetAttribute(&c->multiprocessors, kAttrMultiProcessorCount, 0);
    size_t freeBytes = 0;
    c->memGetInfo(&freeBytes, &c->memoryBytes);
    c->runtimeGetVersion(&c->runtimeVersion);
    c->driverGetVersion(&c->driverVersion);
    return c;
  }
  *why = "no CUDA runtime found (libcudart.so.13, .12 or .11: " + tried + ")";
  return nullptr;
}

// Counts a failure and keeps its text for cudaStats().
void Fail(const char* what, const std::string& detail) {
  state.failures += 1;
  state.lastError = std::string(what) + ": " + detail;
}

bool Reserve(int i, size_t floats) {
  if (state.cap[i] >= floats) return true;
  if (state.dev[i] != nullptr) opened->free(state.dev[i]);
  state.dev[i] = nullptr;
  state.cap[i] = 0;
  size_t want = 1 << 16;
  while (want < floats) want *= 2;
  void* p = nullptr;
  cudaError e = opened->malloc(&p, want * sizeof(float));
  if (e != 0) {
    Fail("cudaMalloc", CudaErrorText(opened, e));
    return false;
  }
  state.dev[i] = static_cast<float*>(p);
  state.cap[i] = want;
  return true;
}

// A rows x cols row-major matrix with leading dimension ld, between host and a dense device copy.
cudaError CopyMatrix(float* dst, const float* src, int64_t rows, int64_t cols, int64_t srcLd, int64_t dstLd, int kind) {
  if (srcLd == cols && dstLd == cols) return opened->memcpy(dst, src, size_t(rows * cols) * sizeof(float), kind);
  return opened->memcpy2D(dst, size_t(dstLd) * sizeof(float), src, size_t(srcLd) * sizeof(float),
                          size_t(cols) * sizeof(float), size_t(rows), kind);
}

bool RunOnGpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (state.handle == nullptr) {
    cublasStatus s = opened->cublasCreate(&state.handle);
    if (s != 0) {
      state.handle = nullptr;
      Fail("cublasCreate", "status " + std::to_string(s));
      return false;
    }
  }
  const int64_t aRows = ta ? K : M, aCols = ta ? M : K;
  const int64_t bRows = tb ? N : K, bCols = tb ? K : N;
  if (!Reserve(0, size_t(aRows * aCols)) || !Reserve(1, size_t(bRows * bCols)) || !Reserve(2, size_t(M * N))) {
    return false;
  }
  cudaError e = CopyMatrix(state.dev[0], A, aRows, aCols, lda, aCols, kHostToDevice);
  if (e == 0) e = CopyMatrix(state.dev[1], B, bRows, bCols, ldb, bCols, kHostToDevice);
  if (e == 0 && beta != 0.f) e = CopyMatrix(state.dev[2], C, M, N, ldc, N, kHostToDevice);
  if (e != 0) {
    Fail("copy to the GPU", CudaErrorText(opened, e));
    return false;
  }
  // cuBLAS is column-major: a row-major matrix is the column-major matrix of its transpose, so
  // row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. the same call with A and B swapped.
  cublasStatus s = opened->cublasSgemm(state.handle, tb ? kCublasOpT : kCublasOpN, ta ? kCublasOpT : kCublasOpN,
                                       int(N), int(M), int(K), &alpha, state.dev[1], int(bCols), state.dev[0],
                                       int(aCols), &beta, state.dev[2], int(N));
  if (s != 0) {
    Fail("cublasSgemm", "status " + std::to_string(s));
    return false;
  }
  // A blocking copy on the legacy default stream: it waits for the product, and C is written only here,
  // so on any failure before it the CPU still computes the product from untouched inputs.
  e = CopyMatrix(C, state.dev[2], M, N, N, ldc, kDeviceToHost);
  if (e != 0) {
    // The device is in trouble (a failed copy back is a sticky error): stop routing on this thread.
    state.minFlops = 0;
    Fail("copy from the GPU", CudaErrorText(opened, e));
    return false;
  }
  return true;
}

void SetNumber(napi_env env, napi_value obj, const char* name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

void SetString(napi_env env, napi_value obj, const char* name, const std::string& s) {
  napi_value x;
  napi_create_string_utf8(env, s.c_str(), s.size(), &x);
  napi_set_named_property(env, obj, name, x);
}

// cudaOpen(libDirs: string) -> { ok: true, device, major, runtimeVersion, driverVersion, multiprocessors,
// memoryBytes } | { ok: false, reason }. libDirs: colon-separated directories tried before the loader's
// own search. Loads once per process; later calls report the first result.
napi_value CudaOpen(napi_env env, napi_callback_info info) {
  napi_value a[1];
  if (!GetArgs(env, info, a, 1, "cudaOpen(libDirs)")) return nullptr;
  char dirs[4096];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, a[0], dirs, sizeof dirs, &len) != napi_ok || len + 1 >= sizeof dirs) {
    Throw(env, "cudaOpen: libDirs must be a string of under 4096 bytes", false);
    return nullptr;
  }
  std::lock_guard<std::mutex> hold(openLock);
  if (opened == nullptr && openFailure.empty()) {
    opened = Load(std::string(dirs, len), &openFailure);
  }
  napi_value out, flag;
  napi_create_object(env, &out);
  napi_get_boolean(env, opened != nullptr, &flag);
  napi_set_named_property(env, out, "ok", flag);
  if (opened == nullptr) {
    SetString(env, out, "reason", openFailure);
    return out;
  }
  SetString(env, out, "device", opened->device);
  SetNumber(env, out, "major", opened->major);
  SetNumber(env, out, "runtimeVersion", opened->runtimeVersion);
  SetNumber(env, out, "driverVersion", opened->driverVersion);
  SetNumber(env, out, "multiprocessors", opened->multiprocessors);
  SetNumber(env, out, "memoryBytes", double(opened->memoryBytes));
  return out;
}

// cudaRoute(minFlops): from now on this thread runs products of at least minFlops (2·M·N·K) on the GPU;
// 0 stops. Needs a successful cudaOpen first.
napi_value CudaRoute(napi_env env, napi_callback_info info) {
  napi_value a[1];
  double minFlops;
  if (!GetArgs(env, info, a, 1, "cudaRoute(minFlops)") || !GetNum(env, a[0], &minFlops, "minFlops")) return nullptr;
  if (!(minFlops >= 0)) {
    Throw(env, "cudaRoute: minFlops must be >= 0");
    return nullptr;
  }
  if (minFlops > 0 && opened == nullptr) {
    Throw(env, "cudaRoute: CUDA is not open (call cudaOpen first)");
    return nullptr;
  }
  state.minFlops = minFlops;
  return nullptr;
}

// cudaStats(reset?) -> this thread's counts since the last reset: products (and FLOPs) on the GPU and on
// the CPU, GPU failures (each then computed on the CPU) and the last failure's text.
napi_value CudaStats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, nullptr, nullptr);
  bool reset = false;
  if (argc >= 1 && !GetBool(env, a[0], &reset)) return nullptr;
  napi_value out;
  napi_create_object(env, &out);
  SetNumber(env, out, "gpuGemms", state.gpuGemms);
  SetNumber(env, out, "gpuFlops", state.gpuFlops);
  SetNumber(env, out, "cpuGemms", state.cpuGemms);
  SetNumber(env, out, "cpuFlops", state.cpuFlops);
  SetNumber(env, out, "failures", state.failures);
  SetNumber(env, out, "minFlops", state.minFlops);
  SetString(env, out, "lastError", state.lastError);
  if (reset) {
    state.gpuGemms = state.gpuFlops = state.cpuGemms = state.cpuFlops = state.failures = 0;
    state.lastError.clear();
  }
  return out;
}

}  // namespace

bool CudaGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const bool route = state.minFlops > 0 && flops >= state.minFlops && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX;
  if (route && RunOnGpu(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) {
    state.gpuGemms += 1;
    state.gpuFlops += flops;
    return true;
  }
  state.cpuGemms += 1;
  state.cpuFlops += flops;
  return false;
}

void DefineCuda(napi_env env, napi_value exports) {
  DefineMethods(env, exports, {
      {"cudaOpen", CudaOpen},
      {"cudaRoute", CudaRoute},
      {"cudaStats", CudaStats},
  });
}

}  // namespace ff
