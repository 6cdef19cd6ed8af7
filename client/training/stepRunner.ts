/**
 * How trainLocally's minibatch steps run: through tfjs (tfjsStepRunner.ts, any backend, any model) or as
 * one step of the chain's kernels per batch (nativeChainTrainer.ts, chain models on the native path or the
 * wasm fallback). trainLocally owns
 * the loop — epochs, order, batches, yielding to the event loop — and the result; a runner owns the
 * model's arithmetic and optimizer state for one call.
 */
import type { BatchView } from "../../shared/data/trainingSource.js";

export interface StepRunner {
  /** "native": whole steps in the native addon; "simd": in the WebAssembly SIMD kernels; "tfjs": through tfjs's kernels and tape. */
  readonly kind: "native" | "simd" | "tfjs";
  /** One optimizer step on the batch's examples (at least one). */
  step(batch: BatchView): void;
  /** The cross-entropy sum and the correct count of the steps since the last call. */
  takeTotals(): { loss: number; hits: number };
  /** After the last step of a successful run: the trained weights into the model, if not there already. */
  finish(): void;
  /** Frees what the runner holds (always called, also after an error). */
  dispose(): void;
}
