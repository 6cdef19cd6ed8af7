/** BatchMatMul on wasm routed to its XNNPACK path wherever stock wasm would run its scalar loop. */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchMatMulAttrs, KernelBackend, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core";
import { composed, sameShape, sizeOf, type Stock } from "./wasmComposed.js";
import { simdMatMul } from "./simd/onHeap.js";
import { float32View, withHeapOutputs } from "./wasmHeap.js";

/**
 * Routes the products stock wasm would run in its scalar loop elsewhere:
 * - both operands batched alike (attention's Q·Kᵀ and A·V, and their gradients), and unbatched ones with a
 *   transposed a (a dense layer's weight gradient xᵀ·dy, K = tokens): the project's SIMD sgemm
 *   (simd/onHeap.ts), slice by slice on copies, reading either transpose in place. Per fusion-s step, the
 *   attention products 19.6–25.4 → 11.9–12.3 ms (one XNNPACK call per slice before, each packing its
 *   right operand anew), the weight gradients 24.6 → 13.4 ms (XNNPACK after an explicit transpose before);
 * - otherwise to its XNNPACK path (which needs no transposes and batch 1), transposing operands
 *   explicitly and folding a's batch into its rows when b is not batched.
 * Broadcast batch dimensions with a batched b stay on the stock kernel.
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
    const batched = batchB !== 1 && sameShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const useStock =
      a.dtype !== "float32" || b.dtype !== "float32" || aRank < 2 || bRank < 2 || Ka !== Kb ||
      (batchB !== 1 && !batched) || (!transposeA && !transposeB && batchA === 1) || sizeOf(a.shape) === 0 || sizeOf(b.shape) === 0;
    if (useStock) return stock.BatchMatMul(args);
    const K = Ka;
    const outShape = [
      ...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N,
    ];
    if (batched || (transposeA && batchA === 1 && batchB === 1)) {
      return withHeapOutputs(backend, [outShape], ([out]) => {
        const f32 = (t: TensorInfo) => float32View(backend, t);
        simdMatMul(f32(a), f32(b), f32(out), batchA, M, N, K, transposeA, transposeB);
      })[0];
    }
    const rows = batchA * M;
    const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
    const noTranspose = { transposeA: false, transposeB: false };
    return composed(stock, backend as KernelBackend, (run) => {
      if (transposeB && N > rows) {
        // out^T [N, rows] = B [N, K] · A^T [K, rows]: the small A^T is the packed operand.
        const a2 = transposeA ? run("Transpose", { x: a }, { perm: swapLast(aRank) }) : a;
        const a2d = run("Reshape", { x: a2 }, { shape: [rows, K] });
        const aT = run("Reshape", { x: run("Transpose", { x: a2d }, { perm: [1, 0] }) }, { shape: [1, K, rows] }); // [1, K, rows]
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
