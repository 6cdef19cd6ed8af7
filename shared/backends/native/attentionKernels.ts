/**
 * The attention kernels (encoderKernelNames.ts) on backend 'wasm', computed by the native addon
 * (src/attention.cc) directly on the wasm heap. New kernel names: registerNativeKernels adds them, and
 * shared/model/encoderOps.ts uses them where the active backend has them.
 */
import type { KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from "../encoderKernelNames.js";
import { executeOnHeap, requireFloat32 } from "../wasmHeap.js";
import type { NativeAddon } from "./nativeAddon.js";

type Inputs = Record<string, TensorInfo>;

interface Heads {
  rows: number;
  width: number;
  batch: number;
  tokens: number;
  heads: number;
  scale: number;
}

/** The geometry of q, k, v (and dy) [batch·tokens, heads·headDim], checked; errors start with the kernel's name. */
function headsOf(kernel: string, attrs: NamedAttrMap | undefined, ...acts: TensorInfo[]): Heads {
  const { batch, heads, scale } = (attrs ?? {}) as { batch?: number; heads?: number; scale?: number };
  const [rows, width] = acts[0].shape;
  if (acts[0].shape.length !== 2 || acts.some((t) => t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== width)) {
    throw new Error(`${kernel}: q, k, v must be matrices of one shape, got ${acts.map((t) => `[${t.shape}]`).join(", ")}`);
  }
  if (!Number.isInteger(batch) || !Number.isInteger(heads) || batch! < 1 || heads! < 1 || rows % batch! !== 0 || width % heads! !== 0 || typeof scale !== "number") {
    throw new Error(`${kernel}: [${rows}, ${width}] does not split into batch ${batch} and heads ${heads} (scale ${scale})`);
  }
  return { rows, width, batch: batch!, tokens: rows / batch!, heads: heads!, scale };
}

/** The kernels, by name. */
export function attentionKernels(addon: Pick<NativeAddon, "attention" | "attentionGrad">): Record<string, KernelFunc> {
  return {
    [ATTENTION_KERNEL]: ({ inputs, backend, attrs }) => {
      const { q, k, v } = inputs as Inputs;
      requireFloat32(ATTENTION_KERNEL, q, k, v);
      const h = headsOf(ATTENTION_KERNEL, attrs, q, k, v);
      return executeOnHeap(backend, [[h.rows, h.width], [h.batch, h.heads, h.tokens, h.tokens]], ([out, probs], view) =>
        addon.attention(view(q), view(k), view(v), out, probs, h.batch, h.tokens, h.heads, h.scale),
      );
    },
    [ATTENTION_GRAD_KERNEL]: ({ inputs, backend, attrs }) => {
      const { dy, q, k, v, probs } = inputs as Inputs;
      requireFloat32(ATTENTION_GRAD_KERNEL, dy, q, k, v, probs);
      const h = headsOf(ATTENTION_GRAD_KERNEL, attrs, dy, q, k, v);
      const shape = [h.rows, h.width];
      return executeOnHeap(backend, [shape, shape, shape], ([dq, dk, dv], view) =>
        addon.attentionGrad(view(dy), view(q), view(k), view(v), view(probs), dq, dk, dv, h.batch, h.tokens, h.heads, h.scale),
      );
    },
  };
}
