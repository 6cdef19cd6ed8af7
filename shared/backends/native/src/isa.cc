// See isa.h.
#include "isa.h"

#include <stdlib.h>
#include <string.h>

namespace ff {
namespace {

Isa CpuIsa() {
  __builtin_cpu_init();
  // What the AVX-512 builds are compiled for (conv_pool_direct_avx512.cc: avx512f, vl, dq; small_gemm.cc: f, vl).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kNone;
}

Isa Choose() {
  const Isa cpu = CpuIsa();
  const char* asked = getenv("FEDFUSION_NATIVE_ISA");
  if (asked == nullptr || *asked == '\0') return cpu;
  Isa want = cpu;
  if (strcmp(asked, "avx2") == 0) want = Isa::kAvx2;
  else if (strcmp(asked, "none") == 0) want = Isa::kNone;
  return want < cpu ? want : cpu;
}

}  // namespace

Isa KernelIsa() {
  static const Isa isa = Choose();
  return isa;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "none";
  }
}

}  // namespace ff
