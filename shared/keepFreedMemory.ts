/**
 * Keeps freed heap memory in the process instead of returning it to the kernel after every burst.
 *
 * Node's HTTP/2 allocates a fresh buffer for every socket read (64 KiB) and copies it once more to its
 * final size; the buffers are freed when the collector gets to the frames sliced from them. glibc's malloc
 * gives the top of its heap back to the kernel whenever more than ~128 KiB is free there, so during a
 * transfer the heap shrinks and grows again and again, and each regrowth faults fresh, zeroed pages in. In
 * a client downloading 100 MB models that was ~4,000-15,000 page faults per download (2-5x the rest) and 10-25%
 * of its CPU time; with 64 MiB kept, the faults were gone (20 downloads: 151-367k faults -> 68k, measured on
 * 2026-11-27). 16 MiB was not enough (more faults than glibc's own adaptive threshold). The cost: up to
 * 64 MiB of freed memory stays mapped to the process.
 *
 * Through the native addon (mallopt); where it is not built, or the user set the threshold themselves
 * (MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES), nothing changes.
 */
import { nativeOr } from "./backends/native/nativeAddon.js";

export const KEPT_FREE_BYTES = 64 << 20;

const keep = nativeOr("keepFreedMemory", () => false);

/** True when the threshold was set (once per process; later calls repeat the answer). */
let applied: boolean | undefined;
export function keepFreedMemory(): boolean {
  applied ??= keep()(KEPT_FREE_BYTES);
  return applied;
}
