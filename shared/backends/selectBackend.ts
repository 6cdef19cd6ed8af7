/**
 * Chooses the TensorFlow.js backend at run time. The native packages are optional dependencies (their
 * install downloads libtensorflow, which fails offline), so each candidate is tried and, when it cannot be
 * had, the reason is kept for the log.
 */
import * as tf from "@tensorflow/tfjs-core";
import { UserError } from "../errors.js";
import { registerTileGradient } from "./tileGradient.js";

export const BACKEND_CHOICES = ["auto", "gpu", "node", "cuda", "native", "wasm", "cpu"] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendSelection {
  /** What the user asked for and what we got (e.g. "wasm"). */
  choice: BackendChoice;
  name: Exclude<BackendChoice, "auto">;
  /** The tfjs backend name underneath ("tensorflow", "cpu", "wasm"). */
  tfBackend: string;
  detail: string;
  /** For auto: why each better candidate was skipped. */
  skipped: string[];
}

type Candidate = Exclude<BackendChoice, "auto">;
const AUTO_ORDER: Candidate[] = ["gpu", "node", "cuda", "native", "wasm", "cpu"];

/** The log line for a selection: what was chosen, and (auto) why each better candidate was skipped. */
export function describeBackend(s: BackendSelection): string {
  return `backend ${s.name}: ${s.detail}${s.skipped.length ? ` (skipped: ${s.skipped.join("; ")})` : ""}`;
}

export function parseBackendChoice(s: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(s)) return s as BackendChoice;
  throw new UserError(`unknown backend '${s}': expected one of ${BACKEND_CHOICES.join(", ")}`);
}

let current: BackendSelection | null = null;

/** Initialises the backend once per process; later calls return the first selection. */
export async function initBackend(choice: BackendChoice = "auto"): Promise<BackendSelection> {
  if (current) return current;
  // Production mode: skips tfjs debug checks and its "install tfjs-node" banner; this module already chose
  // the best backend available and logs why.
  tf.env().set("PROD", true);
  registerTileGradient();
  const order = choice === "auto" ? AUTO_ORDER : [choice];
  const skipped: string[] = [];
  for (const candidate of order) {
    try {
      const { tfBackend, detail } = await activate(candidate);
      current = { choice, name: candidate, tfBackend, detail, skipped };
      return current;
    } catch (e) {
      if (e instanceof UserError) throw e; // bad settings are the user's to fix, not a reason to fall back
      skipped.push(`${candidate}: ${oneLine(e)}`);
    }
  }
  throw new UserError(`backend '${choice}' is not available here (${skipped.join("; ")})`);
}

async function activate(candidate: Candidate): Promise<{ tfBackend: string; detail: string }> {
  switch (candidate) {
    case "gpu":
    case "node": {
      const pkg = candidate === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      try {
        await import(pkg);
      } catch (e) {
        const missing = (e as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND";
        throw new Error(missing ? `${pkg} is not installed (an optional dependency; it needs libtensorflow)` : `${pkg} failed to load: ${oneLine(e)}`);
      }
      await setBackend("tensorflow");
      return { tfBackend: "tensorflow", detail: `${pkg} (libtensorflow)` };
    }
    case "cuda": {
      // The native backend with its large matrix products on an NVIDIA GPU (cuBLAS, loaded at run time):
      // CUDA is checked before the native kernels are registered, so a machine without it falls through
      // (auto) to `native` with nothing half set up.
      const { loadNativeAddon } = await import("./native/nativeAddon.js");
      const loaded = loadNativeAddon();
      if (!loaded.ok) throw new Error(loaded.reason);
      const { routeGemmsToCuda } = await import("./native/cudaGemm.js");
      const cuda = routeGemmsToCuda(loaded.addon);
      if (!cuda.ok) throw new Error(cuda.reason);
      const native = await activateNative();
      return { tfBackend: "wasm", detail: `${native.detail}; ${cuda.detail}` };
    }
    case "native":
      return activateNative();
    case "wasm": {
      // The project's kernels on plain wasm (conv-block gradients, encoder, chain models' whole steps) run
      // in its WebAssembly SIMD module: without it this backend cannot train a conv net.
      const { simdModule } = await import("./simd/simdKernels.js");
      const simd = simdModule();
      if (typeof simd === "string") throw new Error(`the project's SIMD kernels are unavailable: ${simd}`);
      await import("@tensorflow/tfjs-backend-wasm");
      const { registerWasmTrainingKernels } = await import("./wasmTrainingKernels.js");
      const added = registerWasmTrainingKernels();
      await setBackend("wasm");
      return { tfBackend: "wasm", detail: `wasm (SIMD) + ${added.length} project gradient kernels + SIMD chain kernels for conv-block chains` };
    }
    case "cpu":
      await import("@tensorflow/tfjs-backend-cpu");
      await setBackend("cpu");
      return { tfBackend: "cpu", detail: "pure JavaScript (slow)" };
  }
}

async function activateNative(): Promise<{ tfBackend: string; detail: string }> {
  // The wasm backend (SIMD elementwise ops, the project's gradient kernels) with its matrix products
  // and convolutions replaced by OpenBLAS kernels working on the wasm heap.
  await import("@tensorflow/tfjs-backend-wasm");
  const { registerNativeKernels } = await import("./native/nativeKernels.js");
  const result = registerNativeKernels();
  if (!result.ok) throw new Error(result.reason);
  await setBackend("wasm");
  return {
    tfBackend: "wasm",
    detail: `wasm (SIMD) + ${result.kernels.length} native kernels on ${result.blas} + project gradient kernels`,
  };
}

async function setBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
}

function oneLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
