// FF_VECTOR_CLONES: compile a function twice on x86-64, for AVX2 and for the baseline (SSE2), and pick
// the AVX2 one at load time where the CPU has it. The addon is built without -march flags so it runs
// on any x86-64; its per-value loops (selects, float32/float64 conversions) are 2-5x faster with AVX2.
// Both versions round identically: no FMA (-ffp-contract=off, and "avx2" does not enable it) and no
// reassociation (no -ffast-math), so results do not depend on which version ran.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FF_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FF_VECTOR_CLONES
#endif
