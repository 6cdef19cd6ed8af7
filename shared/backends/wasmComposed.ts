/**
 * Kernels composed of stock tfjs-backend-wasm kernels, called directly the way wasm's own kernels call each
 * other (no engine bookkeeping, no tape): the stock kernel table, {@link composed}, which releases every
 * intermediate, and the NHWC pad/crop building blocks the composed kernels share.
 */
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";

/** The stock wasm kernels the replacements are composed of. */
export const STOCK_KERNELS = [
  "Conv2D", "FusedConv2D", "DepthwiseConv2dNative", "MaxPool", "Max", "BatchMatMul", "Transpose", "Reshape", "Reverse", "PadV2",
  "Slice", "Concat", "Fill", "Identity", "Cast", "Add", "Sub", "Multiply", "Step", "ClipByValue", "Sum",
] as const;
export type StockName = (typeof STOCK_KERNELS)[number];
export type Stock = Record<StockName, KernelFunc>;

export type Run = (name: StockName, inputs: TensorInfo[] | Record<string, TensorInfo>, attrs?: object) => TensorInfo;

/**
 * Runs `body` with `run`, which calls stock wasm kernels directly. Every intermediate `run` produces is
 * released afterwards (also on error) except the returned one, whose single reference goes to the engine.
 */
export function composed(stock: Stock, backend: KernelBackend, body: (run: Run) => TensorInfo): TensorInfo {
  const temps: TensorInfo[] = [];
  const run: Run = (name, inputs, attrs = {}) => {
    const out = stock[name]({ inputs: inputs as never, attrs: attrs as NamedAttrMap, backend }) as TensorInfo;
    temps.push(out);
    return out;
  };
  let result: TensorInfo | undefined;
  try {
    result = body(run);
    return result;
  } finally {
    for (const t of temps) if (t !== result) backend.disposeData(t.dataId);
  }
}

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Crops an NHWC tensor's spatial axes by non-negative amounts. Done as (at most) two 2-D slices, which
 * wasm's Slice copies row by row ([n, h*w*c] then [n*h, w*c]); its 4-D slice copies pixel by pixel.
 */
export function crop(run: Run, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  let t = x;
  const [n, h, w, c] = t.shape;
  const h2 = h - top - bottom;
  const w2 = w - left - right;
  if (top > 0 || bottom > 0) {
    const v = run("Reshape", { x: t }, { shape: [n, h * w * c] });
    const s = run("Slice", { x: v }, { begin: [0, top * w * c], size: [n, h2 * w * c] });
    t = run("Reshape", { x: s }, { shape: [n, h2, w, c] });
  }
  if (left > 0 || right > 0) {
    const v = run("Reshape", { x: t }, { shape: [n * h2, w * c] });
    const s = run("Slice", { x: v }, { begin: [0, left * c], size: [n * h2, w2 * c] });
    t = run("Reshape", { x: s }, { shape: [n, h2, w2, c] });
  }
  return t;
}

/**
 * The same crop as {@link crop} as one XNNPACK depthwise convolution whose only non-zero tap (1) sits
 * at [top, left]: exact, and several times faster than slicing, but ONLY for finite x (0·Inf = NaN).
 */
function cropFinite(run: Run, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  const c = x.shape[3];
  const one = run("Fill", {}, { shape: [1, 1, c, 1], value: 1, dtype: "float32" });
  const taps = run("PadV2", { x: one }, { paddings: [[top, bottom], [left, right], [0, 0], [0, 0]], constantValue: 0 });
  return run("DepthwiseConv2dNative", { x, filter: taps }, {
    strides: [1, 1], pad: "valid", dilations: [1, 1], dimRoundingMode: undefined,
  });
}

/**
 * Pads (positive amounts, with `value`) and/or crops (negative amounts) the two spatial axes of an
 * NHWC tensor: [top, bottom, left, right]. Returns null when the crop leaves nothing. `finite` promises
 * that x holds no Infinity/NaN, allowing the faster crop.
 */
export function padOrCrop(
  run: Run, x: TensorInfo, [top, bottom, left, right]: number[], value: number, finite = false,
): TensorInfo | null {
  let t = x;
  const neg = (v: number) => Math.max(0, -v);
  const pos = (v: number) => Math.max(0, v);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [, h, w] = t.shape;
    if (h - neg(top) - neg(bottom) <= 0 || w - neg(left) - neg(right) <= 0) return null;
    t = (finite ? cropFinite : crop)(run, t, neg(top), neg(bottom), neg(left), neg(right));
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    t = run("PadV2", { x: t }, {
      paddings: [[0, 0], [pos(top), pos(bottom)], [pos(left), pos(right)], [0, 0]], constantValue: value,
    });
  }
  return t;
}
