/**
 * The OpenBLAS addon's sgemm, for the compute peak. The addon's loader lives in
 * shared/backends/native/nativeAddon.ts (older trees: nativeKernels.ts); both are tried, by a dynamic
 * import, so the bench builds whichever way that code is organised.
 */
export interface SgemmAddon {
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
  setNumThreads(threads: number): void;
  info(): { config: string; corename: string; numThreads: number; numProcs: number };
}

export type SgemmLoad = { ok: true; addon: SgemmAddon; blas: string } | { ok: false; reason: string };

const MODULES = ["../../shared/backends/native/nativeAddon.js", "../../shared/backends/native/nativeKernels.js"];

export async function loadSgemm(): Promise<SgemmLoad> {
  const problems: string[] = [];
  for (const rel of MODULES) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(new URL(rel, import.meta.url).href)) as Record<string, unknown>;
    } catch (e) {
      problems.push(`${rel.split("/").pop()}: ${firstLine(e)}`);
      continue;
    }
    if (typeof mod.loadNativeAddon === "function") {
      const r = (mod.loadNativeAddon as () => { ok: boolean; addon?: SgemmAddon; blas?: string; reason?: string })();
      if (r.ok && r.addon) return { ok: true, addon: r.addon, blas: r.blas ?? describe(r.addon) };
      return { ok: false, reason: r.reason ?? "the native addon is unavailable" };
    }
    if (typeof mod.nativeAddon === "function") {
      const addon = (mod.nativeAddon as () => SgemmAddon | null)();
      if (addon) return { ok: true, addon, blas: describe(addon) };
      // nativeAddon() says only null; registerNativeKernels knows why.
      const reason =
        typeof mod.registerNativeKernels === "function"
          ? ((mod.registerNativeKernels as () => { ok: boolean; reason?: string })().reason ?? "the native addon is unavailable")
          : "the native addon is unavailable";
      return { ok: false, reason };
    }
    problems.push(`${rel.split("/").pop()}: exports no addon loader`);
  }
  return { ok: false, reason: `cannot load the native addon (${problems.join("; ")})` };
}

function describe(addon: SgemmAddon): string {
  const i = addon.info();
  return `${i.config.trim()}; core ${i.corename}`;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
