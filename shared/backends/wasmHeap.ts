/**
 * Views of tfjs-backend-wasm's heap for the project's kernels computed outside wasm's own C++ (by the
 * native addon, or in JavaScript): tensor data lives in its
 * WebAssembly.Memory at `dataIdMap.get(dataId).memoryOffset`.
 */
import { util } from "@tensorflow/tfjs-core";
import type { TensorInfo } from "@tensorflow/tfjs-core";

type DataId = TensorInfo["dataId"];

/** The parts of tfjs-backend-wasm's BackendWasm used here (see its backend_wasm.js). */
interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: DataId): { memoryOffset: number | null } | undefined };
  makeOutput(shape: number[], dtype: "float32" | "int32"): TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** Throws unless every tensor is float32 (the project's wasm kernels compute in float32 only). */
export function requireFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== "float32") {
      throw new Error(`${kernel} (wasm training kernel): only float32 is supported, got ${t.dtype}`);
    }
  }
}

export type View = (t: TensorInfo) => Float32Array;

/** Where `t`'s data starts in the wasm heap, in bytes. */
export function heapOffset(backend: unknown, t: TensorInfo): number {
  const offset = (backend as WasmHeapBackend).dataIdMap.get(t.dataId)?.memoryOffset;
  if (offset == null) throw new Error("wasm kernel: a tensor has no data on the wasm heap");
  return offset;
}

/**
 * Allocates outputs of these shapes (float32 unless `dtypes` says otherwise) on the wasm heap and runs
 * `fill` with them; on error they are freed.
 */
export function withHeapOutputs(
  backend: unknown,
  outShapes: number[][],
  fill: (outs: TensorInfo[]) => void,
  dtypes?: ("float32" | "int32")[],
): TensorInfo[] {
  const b = backend as WasmHeapBackend;
  const outs = outShapes.map((shape, i) => b.makeOutput(shape, dtypes?.[i] ?? "float32"));
  try {
    fill(outs);
  } catch (e) {
    for (const o of outs) b.disposeData(o.dataId, true);
    throw e;
  }
  return outs;
}

/**
 * Allocates float32 outputs of these shapes on the wasm heap, then runs `fill` with views of them and a
 * view maker for inputs. On error the outputs are freed.
 */
export function executeOnHeap(backend: unknown, outShapes: number[][], fill: (outs: Float32Array[], view: View) => void): TensorInfo[] {
  return withHeapOutputs(backend, outShapes, (outs) => {
    // Only now, with every allocation done, views of the heap: allocating may have grown (and so
    // detached) the memory. Nothing allocates on the wasm heap until the addon has returned.
    const view: View = (t) => float32View(backend, t);
    fill(outs.map(view), view);
  });
}

/** A view of an int32 tensor's data on the wasm heap (take it after every allocation of the kernel). */
export function int32View(backend: unknown, t: TensorInfo): Int32Array {
  const heap = (backend as WasmHeapBackend).wasm.HEAPU8.buffer;
  return new Int32Array(heap, heapOffset(backend, t), util.sizeFromShape(t.shape));
}

/** A view of a float32 tensor's data on the wasm heap (take it after every allocation of the kernel). */
export function float32View(backend: unknown, t: TensorInfo): Float32Array {
  const heap = (backend as WasmHeapBackend).wasm.HEAPU8.buffer;
  return new Float32Array(heap, heapOffset(backend, t), util.sizeFromShape(t.shape));
}
