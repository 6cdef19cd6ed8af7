/**
 * Loads the N-API addon built from `shared/backends/native/` (see binding.gyp): OpenBLAS sgemm,
 * im2col/col2im, whole conv2d passes, max pooling and a fused bias + activation epilogue, all working in
 * place on the memory of the Float32Arrays they are given (any Float32Array: a plain one, or a view of
 * the tfjs wasm backend's heap).
 *
 * OpenBLAS picks its kernels once, when the library is loaded, from OPENBLAS_CORETYPE or from CPUID.
 * On virtual CPUs CPUID often leads it to slower kernels than the CPU supports, so, unless the user set
 * OPENBLAS_CORETYPE, we choose one from /proc/cpuinfo's flags before loading (see chooseCoreType).
 * Threads default to 1 (clients train in parallel processes). A quick sgemm self-check against a JS
 * reference runs after loading.
 *
 * Used by nativeKernels.ts (the kernels on tfjs's wasm backend); setting FEDFUSION_NATIVE=off makes the
 * addon unavailable (for comparisons, or to rule it out).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The functions the addon (src/fedfusion_native.cc) exports. Arrays are used in place, never copied. */
export interface NativeAddon {
  /** C = alpha * op(A) * op(B) + beta * C, row-major, as cblas_sgemm. */
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
  /** C[b] = op(A[b % batchA]) * op(B[b % batchB]); batchA and batchB equal or one of them 1. */
  batchMatMul(
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    batchA: number,
    batchB: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /** col (N*OH*OW x KH*KW*C) from x (NHWC). */
  im2col(x: Float32Array, col: Float32Array, geometry: ConvGeometry): void;
  /** dx (NHWC) += col scattered back (the adjoint of im2col). dx is not cleared first. */
  col2im(col: Float32Array, dx: Float32Array, geometry: ConvGeometry): void;
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: ConvGeometry): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: ConvGeometry): void;
  /**
   * The conv block: y = maxPool2x2(relu(conv2d(x, filter) + bias)) (stride-1 conv; geometry as conv2d's) and,
   * per pooled value, its window's winning position 0..3 (row-major). src/conv_pool.cc.
   */
  convPool(x: Float32Array, filter: Float32Array, bias: Float32Array, y: Float32Array, argmax: Int32Array, geometry: ConvGeometry): void;
  /** The block's gradients from convPool's y and argmax; dx (cleared first) is skipped when null. */
  convPoolGrad(
    dy: Float32Array,
    x: Float32Array,
    filter: Float32Array,
    y: Float32Array,
    argmax: Int32Array,
    dfilter: Float32Array,
    dbias: Float32Array,
    dx: Float32Array | null,
    geometry: ConvGeometry,
  ): void;
  /** y = max pooling of x (NHWC), as tfjs-backend-cpu computes it. */
  maxPool(x: Float32Array, y: Float32Array, geometry: PoolGeometry): void;
  /** dx = gradient of maxPool: each dy goes to the first maximum of its window in x. */
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, geometry: PoolGeometry): void;
  /** In place on y (rows x cols): y = act(y + bias). Modes: 0 none, 1 scalar, 2 per column, 3 full. */
  biasActivation(
    y: Float32Array,
    rows: number,
    cols: number,
    bias: Float32Array | null,
    biasMode: number,
    activation: number,
    leakyreluAlpha: number,
    prelu: Float32Array | null,
    preluMode: number,
  ): void;
  /** y = tanh(x) elementwise (a rational approximation within a few float32 ulp). */
  tanh(x: Float32Array, y: Float32Array): void;
  /** x viewed as a row-major rows x cols matrix: axis 0 sums its columns into out, axis 1 its rows (in float64). */
  sumRowsOrColumns(x: Float32Array, out: Float32Array, rows: number, cols: number, axis: 0 | 1): void;
  /** y = GELU(x), tanh approximation. */
  gelu(x: Float32Array, y: Float32Array): void;
  /** dx = dy · GELU'(x). */
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** Layer normalisation of each row of d values: y = (x − mean)/sqrt(var + eps)·gamma + beta. */
  layerNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, rows: number, d: number, eps: number): void;
  /** Its gradient: dx, and dgamma/dbeta summed over the rows. */
  layerNormGrad(
    dy: Float32Array, x: Float32Array, gamma: Float32Array,
    dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
    rows: number, d: number, eps: number,
  ): void;
  /** Adam's step for one variable (see shared/backends/adamKernel.ts: the same float32 arithmetic). */
  adamUpdate(
    x: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    xOut: Float32Array, mOut: Float32Array, vOut: Float32Array, c: Float32Array,
  ): void;
  /** y = x with its axes permuted (y's axis i is x's axis perm[i]); rank ≤ 6. */
  transpose(x: Float32Array, y: Float32Array, shape: number[], perm: number[]): void;
  /** acc = weight·delta (first) or acc += weight·delta, in float64. */
  foldDelta(acc: Float64Array, delta: Float32Array, weight: number, first: boolean): void;
  /** The same with delta = weights − base. */
  foldWeights(acc: Float64Array, weights: Float32Array, base: Float32Array, weight: number, first: boolean): void;
  /** out = base + acc / total, rounded to float32. */
  finishMean(acc: Float64Array, base: Float32Array, total: number, out: Float32Array): void;
  /** Σ x² in float64 (sixteen partial sums, as shared/updateNorm.ts); non-finite exactly when some value is. */
  sumOfSquares(x: Float32Array): number;
  /** CRC-32C of data, continuing from crc (0 to start). */
  crc32c(data: Uint8Array, crc: number): number;
  /** Copies src to the start of dst and returns crc32c(src, crc), in one pass. */
  copyCrc32c(dst: Uint8Array, src: Uint8Array, crc: number): number;
  /** out[i] = table[indices[i]] for every index (the table covers 256 or 65,536 entries). */
  gather32(table: Uint32Array, indices: Uint8Array | Uint16Array, out: Uint32Array): void;
  /**
   * Loads the CUDA runtime and cuBLAS (dlopen; libDirs: colon-separated folders tried before the loader's own
   * search) once per process, and reports the GPU. src/cuda_gemm.cc.
   */
  cudaOpen(libDirs: string): CudaOpenResult;
  /** This thread runs every sgemm of at least minFlops (2·M·N·K) on the GPU from now on; 0 stops. */
  cudaRoute(minFlops: number): void;
  /** This thread's products on the GPU and on the CPU since the last reset (reset: start counting again). */
  cudaStats(reset?: boolean): CudaStats;
  /**
   * Multi-head self-attention per image and head (src/attention.cc): probs = softmax(scale · Q·Kᵀ) and
   * out = probs·V, with q, k, v, out [batch·tokens, heads·headDim] and probs [batch, heads, tokens, tokens].
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, probs: Float32Array, batch: number, tokens: number, heads: number, scale: number): void;
  /** Its gradients dq, dk, dv (shaped as q) from dout and the forward pass's probs. */
  attentionGrad(
    dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, batch: number, tokens: number, heads: number, scale: number,
  ): void;
  /** out[(i − start)·size + j] = images[order[i]·size + j] / 255 (as Math.fround) for start <= i < end: a batch of 8-bit images. */
  unitPixels(images: Uint8Array, order: Uint32Array, start: number, end: number, size: number, out: Float32Array): void;
  /** glibc's malloc keeps up to `bytes` freed at the top of its heap (M_TRIM_THRESHOLD); false where the user set it or not glibc. */
  keepFreedMemory(bytes: number): boolean;
  /** isa: the instruction set of the addon's own kernels (src/isa.h: avx512, avx2 or none). */
  info(): { config: string; corename: string; numThreads: number; numProcs: number; envCoretype?: string; isa: string };
  setNumThreads(threads: number): void;
}

export type CudaOpenResult =
  | { ok: true; device: string; major: number; runtimeVersion: number; driverVersion: number; multiprocessors: number; memoryBytes: number }
  | { ok: false; reason: string };

export interface CudaStats {
  gpuGemms: number;
  gpuFlops: number;
  cpuGemms: number;
  cpuFlops: number;
  /** Products that failed on the GPU (each then computed on the CPU) and the last failure. */
  failures: number;
  lastError: string;
  /** The thread's routing threshold (0: not routing). */
  minFlops: number;
}

/**
 * [N, H, W, C, KH, KW, OC, strideH, strideW, dilationH, dilationW, padTop, padLeft, outH, outW]
 * (NHWC input, filter [KH, KW, C, OC]).
 */
export type ConvGeometry = [
  number, number, number, number, number, number, number, number,
  number, number, number, number, number, number, number,
];

/** [N, H, W, C, KH, KW, strideH, strideW, padTop, padLeft, outH, outW] (NHWC). */
export type PoolGeometry = [number, number, number, number, number, number, number, number, number, number, number, number];

interface EnvAddon {
  setenv(name: string, value: string, overwrite: boolean): boolean;
  unsetenv(name: string): void;
  getenv(name: string): string | undefined;
}

export interface NativeAddonOptions {
  /** OpenBLAS threads. Default: OPENBLAS_NUM_THREADS if set, else 1 (clients run in parallel processes). */
  threads?: number;
  /**
   * OpenBLAS core type to request when the environment does not set OPENBLAS_CORETYPE: a name such as
   * "Haswell", or null to let OpenBLAS detect. Default: chooseCoreType(/proc/cpuinfo). A core type whose
   * instructions the CPU lacks kills the process with SIGILL at the first sgemm.
   */
  coreType?: string | null;
}

export type LoadResult = { ok: true; addon: NativeAddon; blas: string } | { ok: false; reason: string };

const ADDON_DIR_ENV = "FEDFUSION_NATIVE_DIR";
const DISABLE_ENV = "FEDFUSION_NATIVE";
/** Lowers the instruction set of the addon's own kernels (src/isa.h); read by the addon when it loads. */
const ISA_ENV = "FEDFUSION_NATIVE_ISA";
const ISAS = ["avx512", "avx2", "none"];
const BUILD_HINT =
  "run `node shared/backends/native/build.mjs --strict` (needs g++, make, python3 and libopenblas-dev)";

// ---------------------------------------------------------------------------------------------
// CPU detection

/**
 * The OpenBLAS core type to force for a CPU with these /proc/cpuinfo flags, or undefined to keep
 * OpenBLAS's own detection. Only instruction sets the CPU (and kernel) really report are chosen.
 */
export function chooseCoreType(cpuinfo: string): string | undefined {
  const line = cpuinfo.split("\n").find((l) => /^flags\s*:/.test(l));
  if (line === undefined) return undefined;
  const flags = new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/));
  const has = (...names: string[]) => names.every((n) => flags.has(n));
  if (has("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma")) return "SkylakeX";
  if (has("avx2", "fma")) return "Haswell";
  return undefined;
}

function detectCoreType(): { coreType?: string; why: string } {
  try {
    const coreType = chooseCoreType(readFileSync("/proc/cpuinfo", "utf8"));
    return coreType
      ? { coreType, why: "chosen from /proc/cpuinfo flags" }
      : { why: "no AVX2+FMA in /proc/cpuinfo: OpenBLAS detects" };
  } catch {
    return { why: "no /proc/cpuinfo: OpenBLAS detects" };
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Folders that may hold build/Release/fedfusion_native.node, nearest first. */
function candidateDirs(): string[] {
  const dirs: string[] = [];
  const fromEnv = process.env[ADDON_DIR_ENV];
  if (fromEnv) dirs.push(fromEnv);
  // Source (shared/backends/native/) or compiled (dist/shared/backends/native/): walk up to the package
  // root (the folder with package.json) and look in shared/backends/native/build/Release on the way.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    dirs.push(join(dir, "build", "Release"));
    dirs.push(join(dir, "shared", "backends", "native", "build", "Release"));
    if (existsSync(join(dir, "package.json"))) break;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dirs;
}

interface Loaded {
  addon: NativeAddon;
  blas: string;
}

let loaded: Loaded | undefined;
let loadFailure: string | undefined;

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

/** True when FEDFUSION_NATIVE is set to off/0/false/no. */
function disabledByEnv(): boolean {
  return /^(off|0|false|no)$/i.test(process.env[DISABLE_ENV]?.trim() ?? "");
}

function loadAddon(options: NativeAddonOptions): Loaded | string {
  if (loaded) return loaded;
  if (loadFailure) return loadFailure;
  if (disabledByEnv()) return `native addon disabled by ${DISABLE_ENV}=${process.env[DISABLE_ENV]}`;
  const dir = candidateDirs().find((d) => existsSync(join(d, "fedfusion_native.node")));
  if (dir === undefined) {
    loadFailure = `native addon not built (no shared/backends/native/build/Release/fedfusion_native.node): ${BUILD_HINT}`;
    return loadFailure;
  }
  const require = createRequire(import.meta.url);
  let envAddon: EnvAddon | undefined;
  try {
    envAddon = require(join(dir, "fedfusion_env.node")) as EnvAddon;
  } catch {
    envAddon = undefined; // then process.env is used; it reaches getenv() on the main thread only
  }
  const getenv = (name: string): string | undefined => envAddon?.getenv(name) ?? process.env[name];
  const isa = getenv(ISA_ENV);
  if (isa && !ISAS.includes(isa)) {
    loadFailure = `${ISA_ENV}=${isa} is not one of ${ISAS.join(", ")}`;
    return loadFailure;
  }
  const setVars: string[] = [];
  const setenv = (name: string, value: string): void => {
    if (envAddon) envAddon.setenv(name, value, true);
    process.env[name] = value;
    setVars.push(name);
  };

  // OpenBLAS reads these when it is loaded, which is when the addon is loaded.
  let coreNote: string;
  const userCore = getenv("OPENBLAS_CORETYPE");
  if (userCore) {
    coreNote = `OPENBLAS_CORETYPE=${userCore} from the environment`;
  } else if (options.coreType === null) {
    coreNote = "detected by OpenBLAS";
  } else {
    const picked = options.coreType !== undefined ? { coreType: options.coreType, why: "requested" } : detectCoreType();
    if (picked.coreType) {
      setenv("OPENBLAS_CORETYPE", picked.coreType);
      coreNote = `OPENBLAS_CORETYPE=${picked.coreType} ${picked.why}`;
    } else {
      coreNote = picked.why;
    }
  }
  const userThreads = getenv("OPENBLAS_NUM_THREADS");
  const threads = options.threads ?? (userThreads ? Number.parseInt(userThreads, 10) || 1 : 1);
  if (!userThreads) setenv("OPENBLAS_NUM_THREADS", String(threads)); // no idle thread pool at load

  let addon: NativeAddon;
  try {
    addon = require(join(dir, "fedfusion_native.node")) as NativeAddon;
  } catch (e) {
    const msg = firstLine(e);
    const hint = /openblas/i.test(msg) ? " (install libopenblas0: apt-get install libopenblas-dev)" : `: ${BUILD_HINT}`;
    loadFailure = `native addon failed to load: ${msg}${hint}`;
    return loadFailure;
  } finally {
    // Leave the environment as the user had it (OpenBLAS has read it by now).
    for (const name of setVars) {
      delete process.env[name];
      envAddon?.unsetenv(name);
    }
  }
  addon.setNumThreads(threads);
  const info = addon.info();
  const err = sgemmSelfCheck(addon);
  if (err !== null) {
    loadFailure =
      `OpenBLAS sgemm gives wrong results with core ${info.corename} (error ${err}): ` +
      `set OPENBLAS_CORETYPE to another core type`;
    return loadFailure;
  }
  const version = /OpenBLAS\s+[\d.]+/.exec(info.config)?.[0] ?? "OpenBLAS";
  const blas =
    `${version}, core ${info.corename} (${coreNote}), ${info.numThreads} thread${info.numThreads === 1 ? "" : "s"}; ` +
    `own kernels ${info.isa === "none" ? "plain C" : info.isa === "avx512" ? "AVX-512" : "AVX2"}${isa ? ` (${ISA_ENV}=${isa})` : ""}`;
  loaded = { addon, blas };
  return loaded;
}

/**
 * Checks OpenBLAS's sgemm, with the kernels it selected, against a double-precision JS product on
 * sizes that are not multiples of any kernel's tile, all four transpose combinations. Some OpenBLAS
 * builds are known to compute wrong results on some processors; this refuses them. Returns the
 * largest error found when it is too large, else null.
 */
function sgemmSelfCheck(addon: NativeAddon): number | null {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  let worst = 0;
  for (const [M, N, K] of [[37, 29, 21], [5, 67, 40], [70, 3, 9]] as const) {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const A = Float32Array.from({ length: M * K }, rnd);
      const B = Float32Array.from({ length: K * N }, rnd);
      const C = Float32Array.from({ length: M * N }, rnd);
      const C0 = C.slice();
      addon.sgemm(ta, tb, M, N, K, 1, A, ta ? M : K, B, tb ? K : N, 0.5, C, N);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let sum = 0;
          for (let k = 0; k < K; k++) sum += A[ta ? k * M + i : i * K + k]! * B[tb ? j * K + k : k * N + j]!;
          const d = Math.abs(sum + 0.5 * C0[i * N + j]! - C[i * N + j]!);
          if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
        }
      }
    }
  }
  return worst <= 1e-4 ? null : worst;
}

/**
 * Loads the addon once per process (later calls return the first outcome; the options only matter
 * for the first load), or says why it is unavailable, in one line.
 */
export function loadNativeAddon(options: NativeAddonOptions = {}): LoadResult {
  const r = loadAddon(options);
  return typeof r === "string" ? { ok: false, reason: r } : { ok: true, addon: r.addon, blas: r.blas };
}

/**
 * A kernel with a JavaScript twin: the addon's function `name` when the addon loads and has it, else
 * `fallback` (decided on the first call, once per process). The twins must compute the same values.
 */
export function nativeOr<K extends keyof NativeAddon>(name: K, fallback: NativeAddon[K]): () => NativeAddon[K] {
  let chosen: NativeAddon[K] | undefined;
  return () => {
    if (chosen === undefined) {
      const r = loadNativeAddon();
      chosen = r.ok && typeof r.addon[name] === "function" ? r.addon[name] : fallback;
    }
    return chosen;
  };
}

/** The loaded addon (loading it, with the same environment handling, if needed), or null. */
export function nativeAddon(options: NativeAddonOptions = {}): NativeAddon | null {
  const r = loadNativeAddon(options);
  return r.ok ? r.addon : null;
}
