/** BatchMatMul on wasm routed to its XNNPACK path wherever stock wasm would run its scalar loop. */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchMatMulAttrs, KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { composed, sameShape, sizeOf, type Stock } from "./wasmComposed.js";
import { withHeapOutputs } from "./wasmHeap.js";
import { canSliceMatMul, sliceMatMul } from "./wasmSliceMatMul.js";

/**
 * Routes the products stock wasm would run in its scalar loop to its XNNPACK path (which needs no
 * transposes and batch 1) by transposing operands explicitly, then folding a's batch into its rows when
 * b is not batched, or running batch slice by slice when both are (wasmSliceMatMul.ts). Broadcast batch
 * dimensions with a batched b stay on the stock kernel.
 */
export function makeBatchMatMul(stock: Stock): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const aRank = a.shape.length;
    const bRank = b.shape.length;
    const batchA = sizeOf(a.shape.slice(0, -2));
    const batchB = sizeOf(b.shape.slice(0, -2));
    const M = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
    const Ka = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
    const Kb = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
    const N = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
    const slices = batchB !== 1 && sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2)) && canSliceMatMul(backend);
    const useStock =
      a.dtype !== "float32" || b.dtype !== "float32" || aRank < 2 || bRank < 2 || Ka !== Kb ||
      (batchB !== 1 && !slices) || (!transposeA && !transposeB && batchA === 1) || sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0;
    if (useStock) return stock.BatchMatMul(args);
    const K = Ka;
    const outShape = [
      ...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N,
    ];
    const rows = batchA * M;
    const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
    const noTranspose = { transposeA: false, transposeB: false };
    if (slices) {
      return composed(stock, backend as KernelBackend, (run) => {
        const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a; // [..., M, K]
        const b2 = transposeB ? run("Transpose", { x: b }, { perm: swapLast(bRank) }) : b; // [..., K, N]
        return withHeapOutputs(backend, [outShape], ([out]) => sliceMatMul(backend, a2, b2, out, batchA, M, K, N))[0];
      });
    }
    return composed(stock, backend as KernelBackend, (run) => {
      if (transposeB && N > rows) {
        // out^T [N, rows] = B [N, K] · A^T [K, rows]: the small A^T is the packed operand.
        let aT: TensorInfo; // [1, K, rows]
        if (transposeA && batchA === 1) {
          // A copy: XNNPACK caches the packed operand by tensor id, and a's id may later be read with
          // another shape (tf.reshape shares ids); fresh ids keep that cache from going stale.
          aT = run("Reshape", { x: run("Identity", { x: a }) }, { shape: [1, K, rows] });
        } else {
          const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a;
          const a2d = run("Reshape", { x: a2 }, { shape: [rows, K] });
          aT = run("Reshape", { x: run("Transpose", { x: a2d }, { perm: [1, 0] }) }, { shape: [1, K, rows] });
        }
        const b3 = run("Reshape", { x: b }, { shape: [1, N, K] });
        const outT = run("BatchMatMul", { a: b3, b: aT }, noTranspose); // [1, N, rows]
        const out = run("Transpose", { x: outT }, { perm: [0, 2, 1] });
        return run("Reshape", { x: out }, { shape: outShape });
      }
      // out [rows, N] = A [rows, K] · B [K, N]
      const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a;
      const a3 = run("Reshape", { x: a2 }, { shape: [1, rows, K] });
      const b2 = transposeB ? run("Transpose", { x: b }, { perm: swapLast(bRank) }) : b;
      const b3 = run("Reshape", { x: b2 }, { shape: [1, K, N] });
      const out = run("BatchMatMul", { a: a3, b: b3 }, noTranspose);
      return run("Reshape", { x: out }, { shape: outShape });
    });
  };
}
