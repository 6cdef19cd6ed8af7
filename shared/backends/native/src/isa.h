// Which vector instructions the addon's own kernels use: AVX-512 where the CPU has it, else AVX2+FMA,
// else none (plain loops and OpenBLAS). FEDFUSION_NATIVE_ISA (avx512, avx2, none) lowers the choice —
// never raises it above what the CPU has — so that tests can check every variant this CPU can run, each
// in a process of its own (the choice is made once per process, like OpenBLAS's core type).
#pragma once

namespace ff {

enum class Isa { kNone = 0, kAvx2 = 1, kAvx512 = 2 };

Isa KernelIsa();

// Its name as FEDFUSION_NATIVE_ISA spells it.
const char* IsaName(Isa isa);

}  // namespace ff
