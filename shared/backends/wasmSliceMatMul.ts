/**
 * Batched matrix products whose both operands are batched (attention's Q·Kᵀ and A·V, and their gradients)
 * on tfjs-backend-wasm's XNNPACK path, one batch slice at a time. Stock wasm runs every such product in a
 * scalar loop (~1.2 GFLOP/s here); its XNNPACK path (~20 GFLOP/s) takes only unbatched, untransposed
 * operands. So each slice is registered as a tensor of its own at its offset inside the batched tensor (no
 * copy) and handed to wasm's BatchMatMul with batch 1: ~3.5x faster for fusion-s's [128, 50, 50]·[128, 50, 16]
 * even though XNNPACK packs each slice's right operand anew.
 *
 * This drives wasm's exported C functions directly (_BatchMatMul, _register_tensor, _dispose_data): the
 * slices must never reach the JavaScript backend's bookkeeping, whose disposeData would free() memory that
 * belongs to the batched tensor. {@link canSliceMatMul} checks the exports exist (tfjs-backend-wasm 4.x).
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";
import { heapOffset } from "./wasmHeap.js";

interface WasmModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _register_tensor(id: number, size: number, offset: number): void;
  _dispose_data(id: number): void;
  _BatchMatMul(aId: number, aShape: number, aRank: number, bId: number, bShape: number, bRank: number, tA: number, tB: number, outId: number): void;
}

interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: unknown;
  dataIdNextNumber: number;
}

/** True when this backend exposes what {@link sliceMatMul} calls. */
export function canSliceMatMul(backend: unknown): boolean {
  const b = backend as Partial<WasmBackend>;
  const w = b.wasm as Partial<WasmModule> | undefined;
  return (
    typeof b.dataIdNextNumber === "number" && b.dataIdMap !== undefined && w !== undefined &&
    [w._malloc, w._free, w._register_tensor, w._dispose_data, w._BatchMatMul].every((f) => typeof f === "function")
  );
}

/**
 * out[g] = a[g] · b[g] for g < batch, with a [batch, m, k], b [batch, k, n] and out [batch, m, n] float32
 * tensors on the wasm heap (any shapes with those element counts: only their memory is used).
 */
export function sliceMatMul(backend: unknown, a: TensorInfo, b: TensorInfo, out: TensorInfo, batch: number, m: number, k: number, n: number): void {
  const be = backend as WasmBackend;
  const w = be.wasm;
  const [ao, bo, oo] = [a, b, out].map((t) => heapOffset(backend, t));
  // Three tensor ids of our own, never entered in the backend's map.
  const id = be.dataIdNextNumber;
  be.dataIdNextNumber += 3;
  const shapes = w._malloc(24);
  try {
    new Int32Array(w.HEAPU8.buffer, shapes, 6).set([1, m, k, 1, k, n]);
    for (let g = 0; g < batch; g++) {
      w._register_tensor(id, m * k, ao + 4 * g * m * k);
      w._register_tensor(id + 1, k * n, bo + 4 * g * k * n);
      w._register_tensor(id + 2, m * n, oo + 4 * g * m * n);
      try {
        w._BatchMatMul(id, shapes, 3, id + 1, shapes + 12, 3, 0, 0, id + 2);
      } finally {
        // Disposing b's id also deletes the XNNPACK operator cached for it.
        for (let i = 0; i < 3; i++) w._dispose_data(id + i);
      }
    }
  } finally {
    w._free(shapes);
  }
}
