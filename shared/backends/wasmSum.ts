/**
 * Sum on plain wasm over leading axes — a bias's gradient, Σ over the batch (and tokens) — as the SIMD
 * kernels' float64 column sums on a copy (simd/onHeap.ts): stock wasm transposes the tensor first, ~2 ms
 * for `large`'s [32,128] and ~5 ms per fusion-s step. Float64 sums as the native path's. Any other
 * reduction goes to the stock kernel.
 */
import { util } from "@tensorflow/tfjs-core";
import type { KernelFunc, SumAttrs, TensorInfo } from "@tensorflow/tfjs-core";
import { simdSumColumns } from "./simd/onHeap.js";
import { sizeOf, type Stock } from "./wasmComposed.js";
import { float32View, withHeapOutputs } from "./wasmHeap.js";

export function makeSum(stock: Stock): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: TensorInfo };
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const size = sizeOf(x.shape);
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    if (x.dtype !== "float32" || size === 0 || !leading) return stock.Sum(args);
    const rows = axes.reduce((p, a) => p * x.shape[a], 1);
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.slice(axes.length);
    return withHeapOutputs(backend, [outShape], ([out]) => simdSumColumns(float32View(backend, x), float32View(backend, out), rows, size / rows))[0];
  };
}
