// FF_VECTOR_CLONES: compile a function twice on x86-64, for AVX2 and for the baseline (SSE2), and pick
// the AVX2 one at load time where the CPU has it. The addon is built without -march flags so it runs
// on any x86-64; its per-value loops (selects, float32/float64 conversions) are 2-5x faster with AVX2.
// Both versions round identically: no FMA (-ffp-contract=off, and "avx2" does not enable it) and no
// reassociation (no -ffast-math), so results do not depend on which version ran.
#pragma once

//
// FF_VECTOR_CLONES_512 adds an AVX-512 version, for long elementwise loops where it measured faster: GELU and
// its gradient over a [1600, 128] activation took 227 and 283 us with AVX2, 127 and 165 us with AVX-512. Not
// everywhere: on short rows (a softmax over 50 tokens) the AVX-512 version was slower, and on layer norm's
// rows of 64 it made no difference.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FF_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#define FF_VECTOR_CLONES_512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FF_VECTOR_CLONES
#define FF_VECTOR_CLONES_512
#endif
