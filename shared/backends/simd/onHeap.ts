/**
 * The SIMD kernels for tfjs kernels on plain wasm, whose tensors live on tfjs's wasm heap: the kernels
 * have a memory of their own, so inputs are copied in and outputs out, through the process's scratch
 * instance (a copy costs a few percent of what the kernels save: the conv block's gradient, GELU's libm
 * tanh, a transposed product).
 */
import type { AdamUpdate } from "../adamKernel.js";
import type { EncoderMath } from "../encoderKernels.js";
import { scratchSimdKernels, simdModule, type SimdKernels } from "./simdKernels.js";

/** The scratch kernels with room for `floats` values, emptied; throws when kernels.wasm did not load. */
export function scratchOrThrow(what: string, floats: number): SimdKernels {
  const k = scratchSimdKernels(floats + 256);
  if (k !== null) return k;
  const module = simdModule();
  throw new Error(`${what}: ${typeof module === "string" ? `the SIMD kernels are unavailable (${module})` : `no memory for the SIMD kernels' ${floats} values`}`);
}

/** A copy of a on the kernels' memory. */
export function copyIn<T extends Float32Array | Int32Array>(k: SimdKernels, a: T): T {
  const c = (a instanceof Float32Array ? k.float32(a.length) : k.int32(a.length)) as T;
  c.set(a);
  return c;
}

/**
 * out[i] [M, N] = op(a[i]) · op(b[i]) for the batch's slices i (a [M, K] each or, transposed, [K, M]; b
 * [K, N] or [N, K]) by the SIMD sgemm, slice after slice.
 */
export function simdMatMul(
  a: Float32Array, b: Float32Array, out: Float32Array, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean,
): void {
  const k = scratchOrThrow("matMul", a.length + b.length + out.length + 4 * batch);
  const [ka, kb, kc] = [copyIn(k, a), copyIn(k, b), k.float32(out.length)];
  const [sa, sb, sc] = [M * K, K * N, M * N];
  for (let i = 0; i < batch; i++) {
    k.sgemm(
      transA, transB, M, N, K, 1, ka.subarray(i * sa, (i + 1) * sa), transA ? M : K, kb.subarray(i * sb, (i + 1) * sb), transB ? K : N,
      0, kc.subarray(i * sc, (i + 1) * sc), N,
    );
  }
  out.set(kc);
}

/** out[j] = Σ_i x[i, j] over x [rows, cols], in float64, by the SIMD kernels. */
export function simdSumColumns(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
  const k = scratchOrThrow("sum", x.length + cols);
  const o = k.float32(cols);
  k.sumColumns(copyIn(k, x), o, rows, cols);
  out.set(o);
}

/** Adam's step (adamKernel.ts) by the SIMD kernels: bit for bit the JavaScript loop's, ~4x faster with the copies. */
export const simdAdamUpdate: AdamUpdate = (x, g, m, v, xOut, mOut, vOut, c) => {
  const n = x.length;
  const k = scratchOrThrow("adam", 7 * n);
  const [kx, kg, km, kv] = [copyIn(k, x), copyIn(k, g), copyIn(k, m), copyIn(k, v)];
  k.adamUpdate(kx, kg, km, kv, kx, km, kv, c);
  xOut.set(kx);
  mOut.set(km);
  vOut.set(kv);
};

/** GELU and layer norm (encoderKernels.ts) by the SIMD kernels, on views of another memory. */
export const simdEncoderMath: EncoderMath = {
  gelu(x, y) {
    const k = scratchOrThrow("gelu", 2 * x.length);
    const out = k.float32(x.length);
    k.gelu(copyIn(k, x), out);
    y.set(out);
  },
  geluGrad(dy, x, dx) {
    const k = scratchOrThrow("geluGrad", 3 * x.length);
    const out = k.float32(x.length);
    k.geluGrad(copyIn(k, dy), copyIn(k, x), out);
    dx.set(out);
  },
  layerNorm(x, gamma, beta, y, rows, d, eps) {
    const k = scratchOrThrow("layerNorm", 2 * x.length + 2 * d);
    const out = k.float32(x.length);
    k.layerNorm(copyIn(k, x), copyIn(k, gamma), copyIn(k, beta), out, rows, d, eps);
    y.set(out);
  },
  layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, d, eps) {
    const k = scratchOrThrow("layerNormGrad", 3 * x.length + 3 * d);
    const [kdx, kdg, kdb] = [k.float32(x.length), k.float32(d), k.float32(d)];
    k.layerNormGrad(copyIn(k, dy), copyIn(k, x), copyIn(k, gamma), kdx, kdg, kdb, rows, d, eps);
    dx.set(kdx);
    dgamma.set(kdg);
    dbeta.set(kdb);
  },
};
