/**
 * The WebAssembly SIMD kernels (shared/backends/simd/kernels.wasm, built from src/kernels.cc) against
 * float64 references in this file: the conv block forward and filter gradient (fixed and table taps,
 * padding, NaN), sgemm in all four transpose combinations with odd and blocked shapes, the dense
 * epilogue, column sums and Adam (bit for bit the JavaScript loop's).
 */
import { describe, expect, it } from "vitest";
import { jsAdamUpdate } from "../../../../shared/backends/adamKernel.js";
import { convPoolBlock, type ConvPoolBlock } from "../../../../shared/backends/convPoolBlock.js";
import { SIMD_MAX_FLOATS, simdChainKernels, simdCoversConvPool, SimdKernels } from "../../../../shared/backends/simd/simdKernels.js";
import { Random } from "../../../../shared/random.js";

function kernels(floats = 4_000_000): SimdKernels {
  const k = simdChainKernels(floats);
  if (k === null) throw new Error("kernels.wasm did not load");
  return k;
}

function fill(a: Float32Array, rng: Random, scale = 1): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = (rng.next() * 2 - 1) * scale;
  return a;
}

/** The block's forward pass in float64: y, argmax (first maximum wins, NaN never does). */
function referenceForward(x: Float32Array, w: Float32Array, bias: Float32Array, b: ConvPoolBlock) {
  const y = new Float32Array(b.n * b.ph * b.pw * b.oc);
  const arg = new Int32Array(y.length);
  const conv = (n: number, oh: number, ow: number, o: number) => {
    let s = bias[o];
    for (let i = 0; i < b.kh; i++)
      for (let j = 0; j < b.kw; j++) {
        const ih = oh + i - b.pt;
        const iw = ow + j - b.pl;
        if (ih < 0 || ih >= b.h || iw < 0 || iw >= b.w) continue;
        for (let c = 0; c < b.c; c++) s += x[((n * b.h + ih) * b.w + iw) * b.c + c] * w[((i * b.kw + j) * b.c + c) * b.oc + o];
      }
    return Math.fround(s);
  };
  let out = 0;
  for (let n = 0; n < b.n; n++)
    for (let ph = 0; ph < b.ph; ph++)
      for (let pw = 0; pw < b.pw; pw++)
        for (let o = 0; o < b.oc; o++, out++) {
          let best = -Infinity;
          let where = 0;
          for (let pos = 0; pos < 4; pos++) {
            const z = conv(n, 2 * ph + (pos >> 1), 2 * pw + (pos & 1), o);
            const v = z < 0 ? 0 : z;
            if (v > best) {
              best = v;
              where = pos;
            }
          }
          y[out] = best;
          arg[out] = where;
        }
  return { y, arg };
}

/** dW, db and dx in float64 from dy and the forward pass's y and argmax. */
function referenceGrad(dy: Float32Array, x: Float32Array, w: Float32Array, y: Float32Array, arg: Int32Array, b: ConvPoolBlock) {
  const dw = new Float64Array(b.kh * b.kw * b.c * b.oc);
  const db = new Float64Array(b.oc);
  const dx = new Float64Array(x.length);
  let out = 0;
  for (let n = 0; n < b.n; n++)
    for (let ph = 0; ph < b.ph; ph++)
      for (let pw = 0; pw < b.pw; pw++)
        for (let o = 0; o < b.oc; o++, out++) {
          if (!(y[out] > 0)) continue;
          const g = dy[out];
          db[o] += g;
          const oh = 2 * ph + (arg[out] >> 1);
          const ow = 2 * pw + (arg[out] & 1);
          for (let i = 0; i < b.kh; i++)
            for (let j = 0; j < b.kw; j++) {
              const ih = oh + i - b.pt;
              const iw = ow + j - b.pl;
              if (ih < 0 || ih >= b.h || iw < 0 || iw >= b.w) continue;
              for (let c = 0; c < b.c; c++) {
                const k = ((i * b.kw + j) * b.c + c) * b.oc + o;
                const at = ((n * b.h + ih) * b.w + iw) * b.c + c;
                dw[k] += g * x[at];
                dx[at] += g * w[k];
              }
            }
        }
  return { dw, db, dx };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: number) {
  expect(got.length).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) expect(got[i]).toBeNaN();
    else if (!Number.isFinite(want[i])) expect(got[i]).toBe(want[i]);
    else if (Math.abs(got[i] - want[i]) > tolerance * Math.max(1, scale)) expect.fail(`value ${i}: ${got[i]}, want ${want[i]}`);
  }
}

describe("simd conv block", () => {
  const cases: [string, number[], number[], "valid" | "same"][] = [
    ["3x3 grey, valid (fixed taps), odd conv output", [3, 11, 9, 1], [3, 3, 1, 8], "valid"],
    ["3x3 RGB, same (fixed taps), 12 filters (a group of 8 and one of 4)", [2, 8, 10, 3], [3, 3, 3, 12], "same"],
    ["3x2 kernel over 3 channels, same (table taps)", [2, 9, 11, 3], [3, 2, 3, 16], "same"],
    ["2x2 over 4 channels, valid (table taps), 4 filters", [3, 7, 7, 4], [2, 2, 4, 4], "valid"],
  ];
  for (const [name, xShape, wShape, pad] of cases) {
    it(`computes ${name} as the float64 reference`, () => {
      const k = kernels();
      const rng = new Random(xShape.reduce((a, b) => a * 7 + b, 1));
      const b = convPoolBlock("test", xShape, wShape, pad);
      expect(simdCoversConvPool(b, false)).toBe(true);
      const x = fill(k.float32(b.n * b.h * b.w * b.c), rng);
      const w = fill(k.float32(b.kh * b.kw * b.c * b.oc), rng, 0.5);
      const bias = fill(k.float32(b.oc), rng, 0.2);
      const pooled = b.n * b.ph * b.pw * b.oc;
      const y = k.float32(pooled);
      const arg = k.int32(pooled);
      k.convPool(x, w, bias, y, arg, b);
      const want = referenceForward(x, w, bias, b);
      expectClose(y, want.y, 1e-6);
      // Ties aside (none in random data), the same winners.
      expect([...arg]).toEqual([...want.arg]);
      const dy = fill(k.float32(pooled), rng);
      const dw = k.float32(w.length);
      const db = k.float32(b.oc);
      dw.fill(7); // overwritten, not added to
      k.convPoolGrad(dy, x, w, y, arg, dw, db, null, b);
      const g = referenceGrad(dy, x, w, y, arg, b);
      expectClose(dw, g.dw, 1e-5);
      expectClose(db, g.db, 1e-6);
      // With the input's gradient: the general path (from the winning positions), dx overwritten.
      const dx = k.float32(x.length).fill(7);
      dw.fill(7);
      k.convPoolGrad(dy, x, w, y, arg, dw, db, dx, b);
      expectClose(dw, g.dw, 1e-5);
      expectClose(db, g.db, 1e-6);
      expectClose(dx, g.dx, 1e-5);
    });
  }

  it("computes a later block's gradients (many taps, 7 filters, 'same') from the winning positions alone", () => {
    const k = kernels();
    const rng = new Random(31);
    const b = convPoolBlock("test", [3, 9, 11, 8], [3, 3, 8, 7], "same");
    expect(simdCoversConvPool(b, false)).toBe(false);
    const x = fill(k.float32(b.n * b.h * b.w * b.c), rng);
    const w = fill(k.float32(b.kh * b.kw * b.c * b.oc), rng, 0.3);
    const bias = fill(k.float32(b.oc), rng, 0.1);
    const want = referenceForward(x, w, bias, b);
    const y = k.float32(want.y.length);
    y.set(want.y);
    const arg = k.int32(want.arg.length);
    arg.set(want.arg);
    const dy = fill(k.float32(y.length), rng);
    const [dw, db, dx] = [k.float32(w.length), k.float32(b.oc), k.float32(x.length)];
    k.convPoolGrad(dy, x, w, y, arg, dw, db, dx, b);
    const g = referenceGrad(dy, x, w, y, arg, b);
    expectClose(dw, g.dw, 1e-5);
    expectClose(db, g.db, 1e-6);
    expectClose(dx, g.dx, 1e-5);
    // Without dx: the same filter gradient.
    const dw2 = k.float32(w.length);
    k.convPoolGrad(dy, x, w, y, arg, dw2, db, null, b);
    expect(dw2).toEqual(dw);
  });

  it("lets NaN through the ReLU but never wins a window with it: a window of NaN only gives -Infinity", () => {
    const k = kernels();
    const b = convPoolBlock("test", [1, 4, 4, 1], [1, 1, 1, 4], "valid");
    const x = k.float32(16);
    x.set([NaN, NaN, 1, NaN, NaN, NaN, NaN, 2, -1, 3, -0, -0, 5, 5, -0, -0]);
    const w = k.float32(4).fill(1);
    const bias = k.float32(4);
    const y = k.float32(16);
    const arg = k.int32(16);
    k.convPool(x, w, bias, y, arg, b);
    // Windows (channel 0): [NaN NaN; NaN NaN] → -Inf; [1 NaN; NaN 2] → 2 at 3; [-1 3; 5 5] → 5 first at 2; zeros → 0 at 0.
    expect([y[0], y[4], y[8], y[12]]).toEqual([-Infinity, 2, 5, 0]);
    expect([arg[0], arg[4], arg[8], arg[12]]).toEqual([0, 3, 2, 0]);
  });

  it("covers first layers only in the forward pass: refuses many taps or filters not a multiple of 4", () => {
    const k = kernels();
    expect(simdCoversConvPool(convPoolBlock("test", [1, 6, 6, 1], [3, 3, 1, 8], "valid"), true)).toBe(false);
    const wide = convPoolBlock("test", [1, 6, 6, 32], [3, 3, 32, 8], "valid");
    expect(simdCoversConvPool(wide, false)).toBe(false);
    expect(simdCoversConvPool(convPoolBlock("test", [1, 6, 6, 1], [3, 3, 1, 6], "valid"), false)).toBe(false);
    const a = (n: number) => k.float32(n);
    expect(() => k.convPool(a(1152), a(2304), a(8), a(32), k.int32(32), wide)).toThrow(/simd kernels: no direct conv block for 3x3x32 → 8 filters/);
  });
});

describe("simd sgemm", () => {
  const shapes = [
    [1, 1, 1],
    [5, 3, 7],
    [32, 10, 300],
    [13, 21, 9],
    [7, 9, 2500], // k in two blocks
    [4, 8, 0],
  ];
  for (const [M, N, K] of shapes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`C = 0.5·op(A)·op(B) + 2·C for ${M}x${N}x${K}, transA ${transA}, transB ${transB}, padded leading dimensions`, () => {
        const k = kernels();
        const rng = new Random(M * 1000 + N * 10 + K + +transA * 3 + +transB * 5);
        const [ar, ac] = transA ? [K, M] : [M, K];
        const [br, bc] = transB ? [N, K] : [K, N];
        const lda = ac + 2;
        const ldb = bc + 1;
        const ldc = N + 3;
        const A = fill(k.float32(Math.max(1, ar * lda)), rng);
        const B = fill(k.float32(Math.max(1, br * ldb)), rng);
        const C = fill(k.float32(M * ldc), rng);
        const want = Float64Array.from(C);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s += (transA ? A[p * lda + i] : A[i * lda + p]) * (transB ? B[j * ldb + p] : B[p * ldb + j]);
            want[i * ldc + j] = 0.5 * s + 2 * C[i * ldc + j];
          }
        k.sgemm(transA, transB, M, N, K, 0.5, A, lda, B, ldb, 2, C, ldc);
        expectClose(C, want, 2e-6 * Math.sqrt(K + 1));
      });
    }
  }

  it("does not read C when beta is 0 (NaN in C stays out)", () => {
    const k = kernels();
    const A = k.float32(6).fill(1);
    const B = k.float32(6).fill(2);
    const C = k.float32(4).fill(NaN);
    k.sgemm(false, false, 2, 2, 3, 1, A, 3, B, 2, 0, C, 2);
    expect([...C]).toEqual([6, 6, 6, 6]);
  });
});

describe("simd epilogues and Adam", () => {
  it("adds a bias per column and applies tfjs's ReLU (NaN and -0 kept)", () => {
    const k = kernels();
    const y = k.float32(10);
    y.set([-1, 2, NaN, 7, 3, -5, 0.5, 1, 1, -2]);
    const bias = k.float32(5);
    bias.set([0, 1, 0, 0, -4]);
    k.biasRelu(y, 2, 5, bias, true);
    expect([...y]).toEqual([0, 3, NaN, 7, 0, 0, 1.5, 1, 1, 0]);
    const z = k.float32(6);
    z.set([-1, 2, -3, -0, NaN, -0]);
    k.biasRelu(z, 1, 6, null, true);
    expect([...z]).toEqual([0, 2, 0, -0, NaN, -0]);
    expect(Object.is(z[3], -0) && Object.is(z[5], -0)).toBe(true);
    z.set([-1, 2, -3, 4, 5, -6]);
    k.biasRelu(z, 2, 3, null, false);
    expect([...z]).toEqual([-1, 2, -3, 4, 5, -6]);
  });

  it("sums columns in float64", () => {
    const k = kernels();
    const x = k.float32(3 * 5);
    x.set([1e8, 1, 2, 3, 4, 1, 1, 1, 1, 1, -1e8, 1, 1, 1, 1]);
    const out = k.float32(5);
    k.sumColumns(x, out, 3, 5);
    // 1e8 + 1 − 1e8 is 1 in float64 (0 in float32).
    expect([...out]).toEqual([1, 3, 4, 5, 6]);
  });

  it("takes Adam's step bit for bit as the JavaScript loop, in place, with a tail past the vectors", () => {
    const k = kernels();
    const rng = new Random(9);
    const n = 37;
    const [x, g, m, v] = [0, 1, 2, 3].map(() => fill(k.float32(n), rng));
    for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]);
    const c = Float32Array.of(0.9, 0.1, 0.999, 0.001, 0.271, 0.00299, 1e-7, -0.001);
    const want = [x, m, v].map((a) => Float32Array.from(a));
    jsAdamUpdate(Float32Array.from(x), g, Float32Array.from(m), Float32Array.from(v), want[0], want[1], want[2], c);
    k.adamUpdate(x, g, m, v, x, m, v, c);
    expect([x, m, v]).toEqual(want);
  });
});

describe("simd kernels' memory", () => {
  it("refuses arrays that are not views of its memory, or too short, and allocations past its size", () => {
    const k = kernels(1000);
    expect(() => k.biasRelu(new Float32Array(4), 1, 4, null, true)).toThrow(/simd kernels: y is not an array of these kernels' memory/);
    expect(() => k.sumColumns(k.float32(5), k.float32(1), 2, 3)).toThrow(/simd kernels: x holds 5 values, 6 needed/);
    expect(() => k.float32(1_000_000)).toThrow(/simd kernels: out of memory for an array of 1000000 values/);
  });

  it("declines a memory beyond 2 GiB (its caller then goes through tfjs) rather than failing", () => {
    expect(simdChainKernels(SIMD_MAX_FLOATS + 1)).toBeNull();
  });
});
