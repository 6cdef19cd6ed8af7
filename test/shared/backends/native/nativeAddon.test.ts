/**
 * The OpenBLAS addon itself (nativeAddon.ts): how it is loaded (core type, threads, environment) and its
 * raw functions. Fails (does not skip) when the addon is not built: CI installs libopenblas-dev and
 * builds it during `npm ci`.
 */
import { readFileSync } from "node:fs";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  chooseCoreType,
  loadNativeAddon,
  nativeAddon,
  type ConvGeometry,
  type NativeAddon,
} from "../../../../shared/backends/native/nativeAddon.js";

const userCoreType = process.env.OPENBLAS_CORETYPE;
const userThreads = process.env.OPENBLAS_NUM_THREADS;
let addon: NativeAddon;
let blas = "";
let unavailable: string | undefined;

// Deterministic data (no Math.random: failures must reproduce).
let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}

beforeAll(() => {
  const r = loadNativeAddon();
  if (r.ok) {
    addon = r.addon;
    blas = r.blas;
  } else {
    unavailable = r.reason;
  }
});

// Every test fails (none is skipped) with the reason when the addon is not built or cannot load.
beforeEach(() => {
  if (unavailable !== undefined) throw new Error(`native addon unavailable: ${unavailable}`);
});

describe("loading", () => {
  it("loads once: later calls return the same addon", () => {
    expect(nativeAddon()).toBe(addon);
    const again = loadNativeAddon({ threads: 4 });
    expect(again.ok && again.addon).toBe(addon);
    expect(blas).toMatch(/OpenBLAS/);
    expect(blas).toMatch(/core \w+/);
    expect(blas).toMatch(/own kernels (AVX-512|AVX2|plain C)/);
  });

  it("runs OpenBLAS with one thread and the core type chosen from /proc/cpuinfo", () => {
    const info = addon.info();
    if (!userThreads) expect(info.numThreads).toBe(1);
    // The variables set for OpenBLAS's load are removed again.
    expect(process.env.OPENBLAS_CORETYPE).toBe(userCoreType);
    expect(process.env.OPENBLAS_NUM_THREADS).toBe(userThreads);
    if (userCoreType) {
      expect(info.corename.toLowerCase()).toBe(userCoreType.toLowerCase());
      return;
    }
    let cpuinfo = "";
    try {
      cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return;
    }
    const chosen = chooseCoreType(cpuinfo);
    if (chosen) {
      expect(info.corename.toLowerCase()).toBe(chosen.toLowerCase());
      expect(blas).toContain(`core ${info.corename}`);
    }
  });

  it("chooses core types only from the flags the CPU reports", () => {
    const flags = (f: string) => `processor\t: 0\nflags\t\t: fpu sse sse2 ${f}\n`;
    expect(chooseCoreType(flags("avx avx2 fma avx512f avx512bw avx512vl avx512dq avx512cd"))).toBe("SkylakeX");
    expect(chooseCoreType(flags("avx avx2 fma avx512f"))).toBe("Haswell");
    expect(chooseCoreType(flags("avx avx2 fma"))).toBe("Haswell");
    expect(chooseCoreType(flags("avx avx2"))).toBeUndefined();
    expect(chooseCoreType(flags("avx"))).toBeUndefined();
    expect(chooseCoreType("no flags line")).toBeUndefined();
  });
});

describe("addon functions", () => {
  it("sgemm computes C = alpha op(A) op(B) + beta C with leading dimensions", () => {
    const M = 7, N = 5, K = 9, lda = 12, ldb = 10, ldc = 6;
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const A = Float32Array.from({ length: (ta ? K : M) * lda }, rand);
      const B = Float32Array.from({ length: (tb ? N : K) * ldb }, rand);
      const C = Float32Array.from({ length: M * ldc }, rand);
      const C0 = C.slice();
      addon.sgemm(ta, tb, M, N, K, 1.5, A, lda, B, ldb, 0.5, C, ldc);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            s += (ta ? A[k * lda + i]! : A[i * lda + k]!) * (tb ? B[j * ldb + k]! : B[k * ldb + j]!);
          }
          expect(C[i * ldc + j]).toBeCloseTo(1.5 * s + 0.5 * C0[i * ldc + j]!, 5);
        }
        for (let j = N; j < ldc; j++) expect(C[i * ldc + j]).toBe(C0[i * ldc + j]); // padding untouched
      }
    }
  });

  it("works on a view into a larger buffer (as on the wasm heap), at an offset", () => {
    const heap = new ArrayBuffer(4096);
    const A = new Float32Array(heap, 64, 6).fill(1); // 2x3 of ones
    const B = new Float32Array(heap, 1024, 12).map((_, i) => i); // 3x4
    const C = new Float32Array(heap, 2048, 8).fill(NaN); // beta 0 overwrites NaN
    addon.batchMatMul(A, B, C, 1, 1, 2, 4, 3, false, false);
    expect(Array.from(C)).toEqual([12, 15, 18, 21, 12, 15, 18, 21]);
    expect(new Float32Array(heap, 2048 + 32, 4).every((v) => v === 0)).toBe(true); // nothing written past C
  });

  it("rejects arrays too small for the sizes given, and detached views, instead of overrunning them", () => {
    const small = new Float32Array(10);
    const big = new Float32Array(100);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, small, 4, big, 4, 0, big, 4)).toThrow(RangeError);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, big, 3, big, 4, 0, big, 4)).toThrow(RangeError);
    expect(() => addon.sgemm(false, false, 4, 4, 4, 1, big, 4, big, 4, 0, big.subarray(95), 4)).toThrow(RangeError);
    const g: ConvGeometry = [1, 5, 5, 2, 3, 3, 4, 1, 1, 1, 1, 1, 1, 5, 5];
    expect(() => addon.conv2d(new Float32Array(49), new Float32Array(72), new Float32Array(100), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(71), new Float32Array(100), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(99), g)).toThrow(RangeError);
    expect(() => addon.conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(100), g)).not.toThrow();
    expect(() => addon.sgemm(false, false, 2, 2, 2, 1, new Float64Array(4) as never, 2, big, 2, 0, big, 2)).toThrow(TypeError);
    // A view of a WebAssembly.Memory that has since grown is detached (length 0): rejected.
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const stale = new Float32Array(memory.buffer, 0, 16);
    memory.grow(1);
    expect(stale.length).toBe(0);
    expect(() => addon.batchMatMul(stale, big, big, 1, 1, 4, 4, 4, false, false)).toThrow(RangeError);
  });

  it("col2im is the adjoint of im2col (with strides, dilations and padding)", () => {
    const g: ConvGeometry = [2, 7, 6, 3, 3, 2, 4, 2, 1, 1, 2, 1, 1, 4, 4];
    const [N, H, W, C, KH, KW] = g;
    const rows = N * g[13] * g[14];
    const x = Float32Array.from({ length: N * H * W * C }, rand);
    const c = Float32Array.from({ length: rows * KH * KW * C }, rand);
    const col = new Float32Array(c.length);
    addon.im2col(x, col, g);
    const dx = new Float32Array(x.length);
    addon.col2im(c, dx, g);
    let lhs = 0;
    let rhs = 0;
    for (let i = 0; i < col.length; i++) lhs += col[i]! * c[i]!;
    for (let i = 0; i < x.length; i++) rhs += x[i]! * dx[i]!;
    expect(lhs).toBeCloseTo(rhs, 4);
    // And im2col matches a direct gather on one entry: image 1, output (1, 2), kh 1, kw 1, channel 2.
    const r = 1 * 16 + 1 * 4 + 2;
    const ih = 1 * 2 - 1 + 1, iw = 2 * 1 - 1 + 1 * 2;
    expect(col[r * KH * KW * C + (1 * KW + 1) * C + 2]).toBe(x[((1 * H + ih) * W + iw) * C + 2]);
  });
});
