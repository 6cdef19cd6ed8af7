/**
 * The project's WebAssembly SIMD kernels (src/kernels.cc, built into the committed kernels.wasm), for the
 * wasm fallback, where the native addon is not built: a chain model's whole steps (shared/model/nativeChain.ts;
 * tfjs-backend-wasm ran a `cnn` step as ~55 kernel calls, here it is a dozen calls into this module), and,
 * through the scratch instance, tfjs kernels on plain wasm (onHeap.ts: conv block, encoder, products, Adam).
 *
 * Each SimdKernels instance owns a memory sized when it is made, and hands out views of it: the memory
 * never grows (growing would detach every view handed out), and an allocation past its end is an error.
 * The compiled module is shared by all instances.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChainKernels } from "../../model/chainKernels.js";
import type { AdamCoefficients } from "../adamKernel.js";
import type { ConvPoolBlock } from "../convPoolBlock.js";

// The parts of the WebAssembly API used here (the project's TypeScript libs do not declare it).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmModule {
  readonly kind?: never;
}
const WebAssembly = (globalThis as unknown as {
  WebAssembly: {
    Module: new (bytes: Uint8Array) => WasmModule;
    Instance: new (module: WasmModule, imports: { env: { memory: WasmMemory } }) => { exports: unknown };
    Memory: new (descriptor: { initial: number }) => WasmMemory;
  };
}).WebAssembly;

interface Exports {
  conv_pool(x: number, w: number, b: number, y: number, arg: number, ...geometry: number[]): void;
  conv_pool_filter_grad(dy: number, x: number, y: number, arg: number, dw: number, db: number, ...geometry: number[]): void;
  conv_pool_grad(dy: number, x: number, w: number, y: number, arg: number, dw: number, db: number, dx: number, scratch: number, ...geometry: number[]): void;
  sgemm(transA: number, transB: number, M: number, N: number, K: number, alpha: number, A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number): void;
  bias_relu(y: number, rows: number, cols: number, bias: number, relu: number): void;
  sum_columns(x: number, out: number, rows: number, cols: number): void;
  adam_update(x: number, g: number, m: number, v: number, xo: number, mo: number, vo: number, c: number, n: number): void;
  gelu(x: number, y: number, n: number): void;
  gelu_grad(dy: number, x: number, dx: number, n: number): void;
  layer_norm(x: number, g: number, b: number, y: number, rows: number, d: number, eps: number): void;
  layer_norm_grad(dy: number, x: number, g: number, dx: number, dg: number, db: number, rows: number, d: number, eps: number): void;
  __heap_base: { value: number };
}

const PAGE = 65536;

let compiled: WasmModule | string | undefined;
let heapBase = 0;

/** Where kernels.wasm is: beside this file in the source tree, or in the package's source folder when run from dist/. */
function wasmPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, "kernels.wasm"), join(here, "..", "..", "..", "..", "shared", "backends", "simd", "kernels.wasm")].find((p) => existsSync(p));
}

/** The compiled module, or why there is none (compiled once per process). FEDFUSION_SIMD=off rules it out. */
export function simdModule(): WasmModule | string {
  if (compiled === undefined && process.env.FEDFUSION_SIMD === "off") compiled = "disabled by FEDFUSION_SIMD=off";
  if (compiled === undefined) {
    const path = wasmPath();
    try {
      compiled = path === undefined ? "kernels.wasm not found" : new WebAssembly.Module(readFileSync(path));
      if (typeof compiled !== "string") {
        // The module's stack and static buffers (~150 KiB) lie below __heap_base; arrays go after it.
        const probe = new WebAssembly.Instance(compiled, { env: { memory: new WebAssembly.Memory({ initial: 16 }) } });
        heapBase = ((probe.exports as Exports).__heap_base.value + 15) & ~15;
      }
    } catch (e) {
      compiled = `kernels.wasm did not load: ${(e as Error).message}`;
    }
  }
  return compiled;
}

/**
 * The most values one instance's memory holds: 2 GiB, half of wasm32's reach (a chain that large — huge
 * images in big batches — goes through tfjs instead).
 */
export const SIMD_MAX_FLOATS = 2 ** 29;

/** Kernels with memory for `floats` values, or null when the module is unavailable or that memory cannot be had. */
export function simdChainKernels(floats: number): SimdKernels | null {
  const module = simdModule();
  if (typeof module === "string" || floats > SIMD_MAX_FLOATS) return null;
  try {
    return new SimdKernels(module, floats);
  } catch (e) {
    // The engine refused the memory (address space or RAM): the caller's tfjs path still works.
    if (e instanceof RangeError) return null;
    throw e;
  }
}

/**
 * The kernels for arrays that live elsewhere (tfjs's wasm heap): one instance per process, emptied at each
 * call and replaced by a larger one when `floats` do not fit. Its arrays are valid until the next call.
 */
let scratch: SimdKernels | null = null;
export function scratchSimdKernels(floats: number): SimdKernels | null {
  if (scratch !== null && scratch.capacity() >= floats) {
    scratch.reset();
    return scratch;
  }
  scratch = simdChainKernels(Math.ceil(floats * 1.25) + 4096);
  return scratch;
}

/** What the direct conv block (src/kernels.cc) takes: a first layer's few taps, no input gradient. */
export function simdCoversConvPool(b: ConvPoolBlock, inputGradient: boolean): boolean {
  return !inputGradient && b.kh * b.kw * b.c <= 32 && (b.kh + 1) * (b.kw + 1) * b.c <= 64 && b.oc % 4 === 0 && b.oc <= 64;
}

type Arr = Float32Array | Int32Array;

export class SimdKernels implements ChainKernels {
  readonly kind = "simd";
  private readonly k: Exports;
  private readonly memory: WasmMemory;
  private next: number;
  private readonly coefficients: Float32Array;
  /** Where arrays start: after the coefficients. */
  private readonly first: number;
  /** The general gradient's working memory, kept from call to call. */
  private work: Float32Array | null = null;

  constructor(module: WasmModule, floats: number) {
    this.memory = new WebAssembly.Memory({ initial: Math.ceil((heapBase + 4 * (floats + 8)) / PAGE) });
    this.k = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as Exports;
    this.next = heapBase;
    this.coefficients = this.float32(8);
    this.first = this.next;
  }

  /** How many values the arrays still to be allocated may hold, at most. */
  capacity(): number {
    return Math.floor((this.memory.buffer.byteLength - this.first) / 4);
  }

  /** Frees every array: those handed out before must no longer be used. */
  reset(): void {
    this.next = this.first;
    this.work = null;
  }

  float32(length: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.take(length), length);
  }

  int32(length: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.take(length), length);
  }

  /** 16-byte aligned room for `length` 4-byte values. */
  private take(length: number): number {
    const at = this.next;
    const end = at + 4 * length;
    if (end > this.memory.buffer.byteLength) {
      throw new Error(`simd kernels: out of memory for an array of ${length} values (sized for ${this.memory.buffer.byteLength} bytes)`);
    }
    this.next = (end + 15) & ~15;
    return at;
  }

  /** a's offset in the memory, after checking it lies there and holds at least `length` values. */
  private at(a: Arr, length: number, what: string): number {
    if (a.buffer !== this.memory.buffer) throw new Error(`simd kernels: ${what} is not an array of these kernels' memory`);
    if (a.length < length) throw new Error(`simd kernels: ${what} holds ${a.length} values, ${length} needed`);
    return a.byteOffset;
  }

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number,
  ): void {
    // The last element each operand's rows reach.
    const extent = (rows: number, cols: number, ld: number) => (rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols);
    const a = this.at(A, transA ? extent(K, M, lda) : extent(M, K, lda), "sgemm's A");
    const b = this.at(B, transB ? extent(N, K, ldb) : extent(K, N, ldb), "sgemm's B");
    const c = this.at(C, extent(M, N, ldc), "sgemm's C");
    this.k.sgemm(+transA, +transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  biasRelu(y: Float32Array, rows: number, cols: number, bias: Float32Array | null, relu: boolean): void {
    this.k.bias_relu(this.at(y, rows * cols, "y"), rows, cols, bias ? this.at(bias, cols, "bias") : 0, +relu);
  }

  sumColumns(x: Float32Array, out: Float32Array, rows: number, cols: number): void {
    this.k.sum_columns(this.at(x, rows * cols, "x"), this.at(out, cols, "out"), rows, cols);
  }

  coversConvPool(block: ConvPoolBlock, inputGradient: boolean): boolean {
    return simdCoversConvPool(block, inputGradient);
  }

  convPool(x: Float32Array, filter: Float32Array, bias: Float32Array, y: Float32Array, argmax: Int32Array, b: ConvPoolBlock): void {
    this.requireCovered(b);
    const pooled = b.n * b.ph * b.pw * b.oc;
    this.k.conv_pool(
      this.at(x, b.n * b.h * b.w * b.c, "x"), this.at(filter, b.kh * b.kw * b.c * b.oc, "filter"), this.at(bias, b.oc, "bias"),
      this.at(y, pooled, "y"), this.at(argmax, pooled, "argmax"), ...geometry(b),
    );
  }

  /** Any block's gradients: a first layer's by the direct path, others (or with dx) from the winning positions alone. */
  convPoolGrad(
    dy: Float32Array, x: Float32Array, filter: Float32Array, y: Float32Array, argmax: Int32Array,
    dfilter: Float32Array, dbias: Float32Array, dx: Float32Array | null, b: ConvPoolBlock,
  ): void {
    const pooled = b.n * b.ph * b.pw * b.oc;
    const inSize = b.n * b.h * b.w * b.c;
    const taps = b.kh * b.kw * b.c;
    const [pdy, px, py, parg] = [this.at(dy, pooled, "dy"), this.at(x, inSize, "x"), this.at(y, pooled, "y"), this.at(argmax, pooled, "argmax")];
    const [pdw, pdb] = [this.at(dfilter, taps * b.oc, "dfilter"), this.at(dbias, b.oc, "dbias")];
    if (dx === null && simdCoversConvPool(b, false)) {
      this.k.conv_pool_filter_grad(pdy, px, py, parg, pdw, pdb, ...geometry(b));
      return;
    }
    const floats = 2 * b.oc + 2 * b.oc * taps;
    if (this.work === null || this.work.length < floats) this.work = this.float32(floats);
    const pw = this.at(filter, taps * b.oc, "filter");
    this.k.conv_pool_grad(pdy, px, pw, py, parg, pdw, pdb, dx ? this.at(dx, inSize, "dx") : 0, this.work.byteOffset, ...geometry(b));
  }

  adamUpdate(
    x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    xOut: Float32Array, mOut: Float32Array, vOut: Float32Array, c: AdamCoefficients,
  ): void {
    const n = x.length;
    this.coefficients.set(c);
    this.k.adam_update(
      this.at(x, n, "x"), this.at(g, n, "g"), this.at(m, n, "m"), this.at(v, n, "v"),
      this.at(xOut, n, "xOut"), this.at(mOut, n, "mOut"), this.at(vOut, n, "vOut"), this.coefficients.byteOffset, n,
    );
  }

  gelu(x: Float32Array, y: Float32Array): void {
    this.k.gelu(this.at(x, x.length, "x"), this.at(y, x.length, "y"), x.length);
  }

  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void {
    const n = x.length;
    this.k.gelu_grad(this.at(dy, n, "dy"), this.at(x, n, "x"), this.at(dx, n, "dx"), n);
  }

  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, rows: number, d: number, eps: number): void {
    this.k.layer_norm(this.at(x, rows * d, "x"), this.at(gamma, d, "gamma"), this.at(beta, d, "beta"), this.at(y, rows * d, "y"), rows, d, eps);
  }

  layerNormGrad(
    dy: Float32Array, x: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
    rows: number, d: number, eps: number,
  ): void {
    const n = rows * d;
    this.k.layer_norm_grad(
      this.at(dy, n, "dy"), this.at(x, n, "x"), this.at(gamma, d, "gamma"), this.at(dx, n, "dx"), this.at(dgamma, d, "dgamma"),
      this.at(dbeta, d, "dbeta"), rows, d, eps,
    );
  }

  private requireCovered(b: ConvPoolBlock): void {
    if (!simdCoversConvPool(b, false)) throw new Error(`simd kernels: no direct conv block for ${b.kh}x${b.kw}x${b.c} → ${b.oc} filters`);
  }
}

/** The module's geometry arguments: N, H, W, C, KH, KW, OC, pad top, pad left, PH, PW. */
const geometry = (b: ConvPoolBlock): number[] => [b.n, b.h, b.w, b.c, b.kh, b.kw, b.oc, b.pt, b.pl, b.ph, b.pw];
