/**
 * The `cuda` backend's own part: the native backend with its large matrix products (dense layers,
 * attention projections, im2col convolutions and all their gradients: every sgemm the addon runs) on an
 * NVIDIA GPU through cuBLAS. The addon loads the CUDA runtime and cuBLAS with dlopen (src/cuda_gemm.cc),
 * so this works with whichever CUDA 11, 12 or 13 a site has installed — tfjs-node-gpu needs libtensorflow
 * built for CUDA 11.2 and cuDNN 8, which newer drivers' machines rarely have.
 *
 * Tensors stay in host memory, so each product pays for its copies to the GPU and back over PCIe: only
 * products of at least `minFlops` go there, the rest (and every elementwise op) stay on the CPU kernels.
 */
import { UserError } from "../../errors.js";
import type { NativeAddon } from "./nativeAddon.js";

/** Colon-separated folders holding libcudart.so.N and libcublas.so.N, tried before the loader's search. */
export const CUDA_LIB_DIRS_ENV = "FEDFUSION_CUDA_LIB_DIRS";
/** The smallest product (in MFLOP, 2·M·N·K / 10⁶) sent to the GPU. */
export const CUDA_MIN_MFLOP_ENV = "FEDFUSION_CUDA_MIN_MFLOP";
/**
 * Below about this size a product is done sooner by one CPU core than its copies to and from the GPU
 * take (measured on an H100 over PCIe; see shared/backends/native/README.md).
 */
export const DEFAULT_CUDA_MIN_MFLOP = 16;
/** Where CUDA toolkits install their libraries, after the folders the user names. */
const TOOLKIT_DIRS = ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"];

export type CudaRouting = { ok: true; minFlops: number; detail: string } | { ok: false; reason: string };

/** The threshold from FEDFUSION_CUDA_MIN_MFLOP (validated), in FLOPs. */
export function cudaMinFlops(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[CUDA_MIN_MFLOP_ENV]?.trim();
  if (raw === undefined || raw === "") return DEFAULT_CUDA_MIN_MFLOP * 1e6;
  const mflop = Number(raw);
  if (!Number.isFinite(mflop) || mflop <= 0) {
    throw new UserError(`${CUDA_MIN_MFLOP_ENV} must be a number of MFLOP > 0 (got '${raw}')`);
  }
  return mflop * 1e6;
}

/**
 * Opens CUDA (once per process) and routes this thread's large products to the GPU; { ok: false } with the
 * reason when there is no CUDA runtime, cuBLAS or device to use.
 */
export function routeGemmsToCuda(addon: NativeAddon, env: NodeJS.ProcessEnv = process.env): CudaRouting {
  const minFlops = cudaMinFlops(env);
  const dirs = [...(env[CUDA_LIB_DIRS_ENV]?.split(":").filter((d) => d !== "") ?? []), ...TOOLKIT_DIRS];
  const cuda = addon.cudaOpen(dirs.join(":"));
  if (!cuda.ok) return { ok: false, reason: cuda.reason };
  addon.cudaRoute(minFlops);
  const gib = (cuda.memoryBytes / 2 ** 30).toFixed(0);
  const version = (v: number) => `${Math.floor(v / 1000)}.${(v % 1000) / 10}`;
  return {
    ok: true,
    minFlops,
    detail:
      `products of ≥ ${minFlops / 1e6} MFLOP on ${cuda.device || "CUDA device 0"} (${cuda.multiprocessors} SMs, ${gib} GiB) ` +
      `through cuBLAS, CUDA runtime ${version(cuda.runtimeVersion)}, driver ${version(cuda.driverVersion)}`,
  };
}
