/**
 * The kernel variants this CPU can run, each in a process of its own (each is chosen once per process),
 * checked against float64 references. The other tests run only the variants chosen for this machine.
 *
 * - OpenBLAS picks its kernels per CPU: the loader asks for SkylakeX or Haswell where /proc/cpuinfo allows
 *   them, and elsewhere OpenBLAS detects (Sandybridge, Nehalem, … on older CPUs). Each core type is run with
 *   the addon's own kernels off (FEDFUSION_NATIVE_ISA=none), so every product is OpenBLAS's.
 * - The addon's own kernels come in AVX-512 and AVX2 builds (src/isa.h): the small-product sgemm
 *   (src/small_gemm.cc, AVX-512 only: few columns, K in chunks, transposed B packed) and the conv block's
 *   direct path (src/conv_pool_direct*.cc). Each build is run with the loader's core type.
 *
 * Checked: sgemm — all four transpose combinations, skinny, wide and odd shapes, alpha and beta, and that
 * beta = 0 never reads C (NaN there must not come through) — an im2col convolution, and the conv block's
 * value, argmax and filter and bias gradients. The direct path's two builds sum in the same order: their
 * outputs must agree bit for bit.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { NATIVE_ADDON_MODULE, nativeChildPrelude } from "../../../helpers/nativeChild.js";

/** Core types of OpenBLAS's DYNAMIC_ARCH builds, with the CPU flags their kernels use. */
const CORE_TYPES: [string, string[]][] = [
  ["SkylakeX", ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]],
  ["Haswell", ["avx2", "fma"]],
  ["Zen", ["avx2", "fma"]],
  ["Sandybridge", ["avx"]],
  ["Nehalem", ["sse4_2"]],
  ["Prescott", ["pni"]],
];

/** The addon's own builds (FEDFUSION_NATIVE_ISA), with the CPU flags they use. */
const ISAS: [string, string[]][] = [
  ["avx512", ["avx512f", "avx512vl", "avx512dq", "avx2", "fma"]],
  ["avx2", ["avx2", "fma"]],
  ["none", []],
];

const flags = new Set((readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags")) ?? "").split(/\s+/));
const runnable = (list: [string, string[]][]) => list.filter(([, need]) => need.every((f) => flags.has(f))).map(([name]) => name);

// Runs in the child: prints { corename, isa, sgemm, nanThrough, conv, block, blockDigest } (worst errors
// relative to the sum of |terms|).
const CHECK = `${nativeChildPrelude(99)}
let sgemm = 0, nanThrough = false;
const SHAPES = [[1, 1, 1], [7, 5, 3], [33, 10, 700], [300, 10, 32], [32, 300, 10], [65, 129, 257], [50, 50, 16], [13, 17, 600],
  [20, 192, 40], [7, 193, 30], [40, 600, 300], [17, 64, 257]];
for (const [M, N, K] of SHAPES) {
  for (const tA of [false, true]) for (const tB of [false, true]) {
    const A = rand(M * K), B = rand(K * N), C = rand(M * N), C0 = C.slice();
    a.sgemm(tA, tB, M, N, K, 0.5, A, tA ? M : K, B, tB ? K : N, 0.25, C, N);
    const D = new Float32Array(M * N).fill(NaN);
    a.sgemm(tA, tB, M, N, K, 1, A, tA ? M : K, B, tB ? K : N, 0, D, N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0, mag = 0;
      for (let k = 0; k < K; k++) { const t = (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]); s += t; mag += Math.abs(t); }
      const want = 0.5 * s + 0.25 * C0[i * N + j];
      sgemm = Math.max(sgemm, Math.abs(C[i * N + j] - want) / (0.5 * mag + 0.25 * Math.abs(C0[i * N + j]) + 1e-30));
      if (Number.isNaN(D[i * N + j])) nanThrough = true;
      else sgemm = Math.max(sgemm, Math.abs(D[i * N + j] - s) / (mag + 1e-30));
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
// The conv block (conv + bias + ReLU + 2x2 max pool) and its filter and bias gradients, against float64:
// the direct path's filter counts (16, 32, 48, 64; 24 takes AVX2 only) and 'same' padding.
let block = 0;
const digest = createHash("sha256");
for (const [N, H, W, C, KH, KW, OC, same] of [[3, 28, 28, 1, 3, 3, 32, 0], [2, 13, 13, 1, 3, 3, 16, 1], [2, 10, 9, 3, 3, 3, 48, 0], [2, 11, 12, 1, 5, 3, 64, 1], [2, 12, 12, 1, 3, 3, 24, 0]]) {
  const OH = same ? H : H - KH + 1, OW = same ? W : W - KW + 1, PH = OH >> 1, PW = OW >> 1;
  const pt = same ? (KH - 1) >> 1 : 0, pl = same ? (KW - 1) >> 1 : 0;
  const geo = [N, H, W, C, KH, KW, OC, 1, 1, 1, 1, pt, pl, OH, OW];
  const bx = rand(N * H * W * C), bw = rand(KH * KW * C * OC), bb = rand(OC);
  const by = new Float32Array(N * PH * PW * OC), arg = new Int32Array(by.length);
  a.convPool(bx, bw, bb, by, arg, geo);
  const dy = rand(by.length), dw = new Float32Array(bw.length), db = new Float32Array(OC);
  a.convPoolGrad(dy, bx, bw, by, arg, dw, db, null, geo);
  for (const t of [by, arg, dw, db]) digest.update(Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  const wantDw = new Float64Array(bw.length), dwMag = new Float64Array(bw.length), wantDb = new Float64Array(OC), dbMag = new Float64Array(OC);
  const tap = (b, i, j, p, q, ch) => { const ih = i + p - pt, iw = j + q - pl; return ih < 0 || ih >= H || iw < 0 || iw >= W ? 0 : bx[((b * H + ih) * W + iw) * C + ch]; };
  for (let b = 0; b < N; b++) for (let ph = 0; ph < PH; ph++) for (let pw = 0; pw < PW; pw++) for (let o = 0; o < OC; o++) {
    let best = -Infinity, where = 0, bestMag = 0;
    for (let k = 0; k < 4; k++) {
      const i = 2 * ph + (k >> 1), j = 2 * pw + (k & 1);
      let s = bb[o], mag = Math.abs(bb[o]);
      for (let p = 0; p < KH; p++) for (let q = 0; q < KW; q++) for (let ch = 0; ch < C; ch++) { const t = tap(b, i, j, p, q, ch) * bw[((p * KW + q) * C + ch) * OC + o]; s += t; mag += Math.abs(t); }
      const v = Math.max(0, s);
      if (v > best) { best = v; where = k; bestMag = mag; }
    }
    const at = ((b * PH + ph) * PW + pw) * OC + o;
    block = Math.max(block, Math.abs(by[at] - best) / (bestMag + 1e-30));
    if (arg[at] !== where && Math.abs(by[at] - best) > 1e-5 * bestMag) block = Infinity;
    if (!(by[at] > 0)) continue;
    const k = arg[at], i = 2 * ph + (k >> 1), j = 2 * pw + (k & 1);
    wantDb[o] += dy[at]; dbMag[o] += Math.abs(dy[at]);
    for (let p = 0; p < KH; p++) for (let q = 0; q < KW; q++) for (let ch = 0; ch < C; ch++) {
      const idx = ((p * KW + q) * C + ch) * OC + o, t = tap(b, i, j, p, q, ch) * dy[at];
      wantDw[idx] += t; dwMag[idx] += Math.abs(t);
    }
  }
  wantDw.forEach((v, i) => { block = Math.max(block, Math.abs(dw[i] - v) / (dwMag[i] + 1e-30)); });
  wantDb.forEach((v, i) => { block = Math.max(block, Math.abs(db[i] - v) / (dbMag[i] + 1e-30)); });
}
console.log(JSON.stringify({ corename: a.info().corename, isa: a.info().isa, sgemm, nanThrough, conv, block, blockDigest: digest.digest("hex") }));
`;

interface Outcome {
  corename: string;
  isa: string;
  sgemm: number;
  nanThrough: boolean;
  conv: number;
  block: number;
  blockDigest: string;
}

async function check(env: Record<string, string>): Promise<Outcome> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", CHECK], { env: { ...process.env, ...env } });
  const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as Outcome;
  expect(r.sgemm, "sgemm").toBeLessThan(1e-5);
  expect(r.nanThrough, "beta = 0 let NaN in C through").toBe(false);
  expect(r.conv, "conv2d").toBeLessThan(1e-5);
  expect(r.block, "conv block").toBeLessThan(1e-5);
  return r;
}

describe("OpenBLAS core types this CPU can run", () => {
  it("finds at least the one the loader chooses here", () => {
    expect(runnable(CORE_TYPES).length).toBeGreaterThan(0);
  });

  it.each(runnable(CORE_TYPES))("%s: sgemm, an im2col convolution and the conv block agree with float64 references", async (coreType) => {
    const r = await check({ OPENBLAS_CORETYPE: coreType, FEDFUSION_NATIVE_ISA: "none" });
    expect(r.corename.toLowerCase()).toBe(coreType.toLowerCase());
    expect(r.isa).toBe("none");
  });
});

describe("the addon's own kernel builds this CPU can run", () => {
  const digests = new Map<string, string>();

  it.each(runnable(ISAS))("%s: sgemm, an im2col convolution and the conv block agree with float64 references", async (isa) => {
    const r = await check({ FEDFUSION_NATIVE_ISA: isa });
    expect(r.isa).toBe(isa);
    digests.set(isa, r.blockDigest);
  });

  it("refuses an unknown FEDFUSION_NATIVE_ISA with one line naming it", async () => {
    const script = `const { loadNativeAddon } = await import(${NATIVE_ADDON_MODULE});
console.log(JSON.stringify(loadNativeAddon()));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, FEDFUSION_NATIVE_ISA: "avx9000" },
    });
    expect(JSON.parse(stdout)).toEqual({ ok: false, reason: "FEDFUSION_NATIVE_ISA=avx9000 is not one of avx512, avx2, none" });
  });

  it.runIf(runnable(ISAS).includes("avx2"))("the conv block's direct path gives the same bits in every build", () => {
    const avx2 = digests.get("avx2");
    expect(avx2).toBeDefined();
    for (const isa of ["avx512"].filter((i) => digests.has(i))) expect(digests.get(isa), isa).toBe(avx2);
  });
});
