/**
 * OpenBLAS picks its kernels per CPU: the loader asks for SkylakeX or Haswell where /proc/cpuinfo allows
 * them, and elsewhere OpenBLAS detects (Sandybridge, Nehalem, … on older CPUs). The other tests run only the
 * kernels chosen for this machine, so each core type this CPU can execute is loaded here in a process of
 * its own (OpenBLAS chooses once per process) and its sgemm — all four transpose combinations, skinny and
 * odd shapes, alpha and beta — and a convolution built on it are checked against float64 references.
 * SkylakeX needs AVX-512, which the development and CI machines lack (docs: checked on a lent Xeon).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../../helpers/cli.js";

/** Core types of OpenBLAS's DYNAMIC_ARCH builds, with the CPU flags their kernels use. */
const CORE_TYPES: [string, string[]][] = [
  ["Haswell", ["avx2", "fma"]],
  ["Zen", ["avx2", "fma"]],
  ["Sandybridge", ["avx"]],
  ["Nehalem", ["sse4_2"]],
  ["Prescott", ["pni"]],
];

const flags = new Set((readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags")) ?? "").split(/\s+/));
const runnable = CORE_TYPES.filter(([, need]) => need.every((f) => flags.has(f))).map(([name]) => name);

// Runs in the child: prints { corename, sgemm, conv } (worst errors relative to the sum of |terms|).
const CHECK = `
const { loadNativeAddon } = await import(${JSON.stringify(path.join(ROOT, "dist/shared/backends/native/nativeAddon.js"))});
const r = loadNativeAddon();
if (!r.ok) throw new Error(r.reason);
const a = r.addon;
let seed = 99;
const rand = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5));
let sgemm = 0;
for (const [M, N, K] of [[1, 1, 1], [7, 5, 3], [33, 10, 700], [300, 10, 32], [32, 300, 10], [65, 129, 257]]) {
  for (const tA of [false, true]) for (const tB of [false, true]) {
    const A = rand(M * K), B = rand(K * N), C = rand(M * N), C0 = C.slice();
    a.sgemm(tA, tB, M, N, K, 0.5, A, tA ? M : K, B, tB ? K : N, 0.25, C, N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0, mag = 0;
      for (let k = 0; k < K; k++) { const t = (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]); s += t; mag += Math.abs(t); }
      const want = 0.5 * s + 0.25 * C0[i * N + j];
      sgemm = Math.max(sgemm, Math.abs(C[i * N + j] - want) / (0.5 * mag + 0.25 * Math.abs(C0[i * N + j]) + 1e-30));
    }
  }
}
// conv2d, valid, stride 1: NHWC [2, 9, 8, 5] * [3, 3, 5, 7] -> [2, 7, 6, 7].
const [n, h, w, c, kh, kw, oc, oh, ow] = [2, 9, 8, 5, 3, 3, 7, 7, 6];
const x = rand(n * h * w * c), f = rand(kh * kw * c * oc), y = new Float32Array(n * oh * ow * oc);
a.conv2d(x, f, y, [n, h, w, c, kh, kw, oc, 1, 1, 1, 1, 0, 0, oh, ow]);
let conv = 0;
for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < oc; o++) {
  let s = 0, mag = 0;
  for (let p = 0; p < kh; p++) for (let q = 0; q < kw; q++) for (let ch = 0; ch < c; ch++) {
    const t = x[((b * h + i + p) * w + j + q) * c + ch] * f[((p * kw + q) * c + ch) * oc + o]; s += t; mag += Math.abs(t);
  }
  conv = Math.max(conv, Math.abs(y[((b * oh + i) * ow + j) * oc + o] - s) / (mag + 1e-30));
}
console.log(JSON.stringify({ corename: a.info().corename, sgemm, conv }));
`;

describe("OpenBLAS core types this CPU can run", () => {
  it("finds at least the one the loader chooses here", () => {
    expect(runnable.length).toBeGreaterThan(0);
  });

  it.each(runnable)("%s: sgemm and an im2col convolution agree with float64 references", async (coreType) => {
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", CHECK], {
      env: { ...process.env, OPENBLAS_CORETYPE: coreType },
    });
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { corename: string; sgemm: number; conv: number };
    expect(r.corename.toLowerCase()).toBe(coreType.toLowerCase());
    expect(r.sgemm).toBeLessThan(1e-5);
    expect(r.conv).toBeLessThan(1e-5);
  });
});
