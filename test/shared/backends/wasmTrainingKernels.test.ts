/**
 * The wasm training kernels against tfjs's reference `cpu` backend (both registered in this process),
 * plus end-to-end training on wasm with trainOnBatch, and tensor-leak checks.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import * as tfl from "@tensorflow/tfjs-layers"; // also registers tfjs-core's gradients
import { beforeAll, describe, expect, it } from "vitest";
import { runOnBackend } from "../../helpers/kernels.js";
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from "../../../shared/backends/wasmTrainingKernels.js";

type Shape4 = [number, number, number, number];
type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];

// Deterministic data (no Math.random: failures must reproduce).
let seed = 20261126;
function rand(): number {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 2 ** 32 - 0.5;
}
function values(shape: readonly number[], gen: () => number = rand): Float32Array {
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, gen);
}

const on = runOnBackend;

/** Compares `fn` on wasm with the cpu reference: same shapes, |wasm - cpu| <= 1e-4 * max|cpu| (+1e-6). */
async function expectWasmMatchesCpu(label: string, fn: () => tf.Tensor | tf.Tensor[], rtol = 1e-4, checkKernels = true): Promise<void> {
  const ref = await on("cpu", fn, checkKernels);
  const got = await on("wasm", fn, checkKernels);
  expect(got.length, label).toBe(ref.length);
  for (let o = 0; o < ref.length; o++) {
    expect(got[o].shape, label).toEqual(ref[o].shape);
    const r = ref[o].v;
    const g = got[o].v;
    let scale = 0;
    for (const x of r) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    const tol = rtol * scale + 1e-6;
    let worst = 0;
    let at = -1;
    for (let i = 0; i < r.length; i++) {
      const d = Math.abs(r[i] - g[i]);
      if (!(d <= tol) && !(r[i] === g[i])) {
        if (!(d <= worst)) {
          worst = d;
          at = i;
        }
      }
    }
    if (at >= 0) {
      throw new Error(`${label}: output ${o} differs at ${at}: wasm ${g[at]} vs cpu ${r[at]} (tol ${tol})`);
    }
  }
}

function convOut(xShape: Shape4, filterShape: Shape4, stride: number | [number, number], pad: Pad, format: "NHWC" | "NCHW", rounding?: "floor" | "round" | "ceil") {
  return tf.backend_util.computeConv2DInfo(
    xShape, filterShape, stride, 1, pad, rounding, false, format === "NHWC" ? "channelsLast" : "channelsFirst",
  ).outShape;
}

const roundingAttr = (r?: "floor" | "round" | "ceil"): Record<string, string> => (r == null ? {} : { dimRoundingMode: r });

let registered: string[] = [];

beforeAll(async () => {
  registered = registerWasmTrainingKernels();
  await tf.setBackend("cpu");
  await tf.setBackend("wasm");
  await tf.ready();
});

describe("registerWasmTrainingKernels", () => {
  it("registers the missing, broken and slow kernels once, on wasm only", () => {
    expect(registered.sort()).toEqual([
      "BatchMatMul", "Cast", "Conv2DBackpropFilter", "Conv2DBackpropInput", "FedfusionAdam", "FedfusionConvPool", "FedfusionConvPoolGrad",
      "FedfusionCorrectCount", "FedfusionCrossEntropy", "FedfusionCrossEntropyGrad", "FedfusionGelu", "FedfusionGeluGrad",
      "FedfusionLayerNorm", "FedfusionLayerNormGrad", "Identity", "MaxPoolGrad", "Sum",
    ]);
    expect(Object.keys(WASM_TRAINING_KERNELS).sort()).toEqual(registered);
    expect(registerWasmTrainingKernels()).toEqual([]); // idempotent
    for (const name of registered) expect(tf.getKernel(name, "wasm"), name).toBeDefined();
    expect(tf.getBackend()).toBe("wasm");
  });

  it("Identity and same-dtype Cast share the data: no copy, values survive disposing the source, nothing leaks", async () => {
    await tf.setBackend("wasm");
    const bytesBefore = tf.memory().numBytes;
    const x = tf.tensor([1.5, -2, 3], [3]);
    const backend = tf.backend() as unknown as { refCount(id: object): number };
    const c = tf.clone(x);
    const same = tf.cast(x, "float32");
    expect(backend.refCount(x.dataId)).toBe(3);
    const asInt = tf.cast(x, "int32"); // a real conversion still copies
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1.5, -2, 3]);
    expect(Array.from(same.dataSync())).toEqual([1.5, -2, 3]);
    expect(Array.from(asInt.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([c, same, asInt]);
    expect(tf.memory().numBytes).toBe(bytesBefore);
  });

  it("rejects non-float32 inputs and mismatched shapes with a clear error", async () => {
    await tf.setBackend("wasm");
    const x = tf.ones([1, 4, 4, 1], "int32");
    const dy = tf.ones([1, 4, 4, 1], "int32");
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 1, 1] }),
    ).toThrow(/only float32/);
    const xf = tf.ones([1, 4, 4, 1]);
    const wrong = tf.ones([1, 3, 3, 1]);
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x: xf, dy: wrong }, { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 1, 1] }),
    ).toThrow(/does not match/);
    tf.dispose([x, dy, xf, wrong]);
  });
});

// batch, height, width, in channels, out channels, kernel
const CONV_SHAPES: [number, number, number, number, number, number][] = [
  [1, 5, 7, 1, 1, 3],
  [1, 9, 6, 3, 4, 3],
  [3, 8, 11, 2, 5, 3],
  [2, 12, 10, 4, 3, 3],
  [2, 7, 7, 3, 2, 2],
  [2, 6, 9, 3, 2, 1],
  // One input channel: the filter gradient's patches-product path.
  [3, 8, 10, 1, 4, 3],
  [2, 6, 5, 1, 3, 2],
  [2, 7, 7, 1, 2, 1],
];
const CONV_CASES: { pad: Pad; stride: number | [number, number]; rounding?: "floor" | "ceil" }[] = [
  { pad: "same", stride: 1 },
  { pad: "valid", stride: 1 },
  { pad: "same", stride: 2 },
  { pad: "valid", stride: 2 },
  { pad: "same", stride: [2, 1] },
  { pad: "valid", stride: 3 },
  { pad: 1, stride: 2, rounding: "ceil" },
  { pad: 2, stride: 1, rounding: "floor" },
  { pad: [[0, 0], [2, 0], [1, 3], [0, 0]], stride: 1 },
  { pad: [[0, 0], [3, 1], [0, 2], [0, 0]], stride: 2 },
];

describe("Conv2DBackpropFilter and Conv2DBackpropInput match cpu", () => {
  for (const format of ["NHWC", "NCHW"] as const) {
    it(`over shapes, paddings, strides and rounding (${format})`, async () => {
      let compared = 0;
      for (const [b, h, w, ci, co, k] of CONV_SHAPES) {
        for (const { pad: pad0, stride, rounding } of CONV_CASES) {
          if (format === "NCHW" && ci === 1 && b === 1) continue;
          const pad: Pad = Array.isArray(pad0) && format === "NCHW" ? [[0, 0], [0, 0], pad0[1], pad0[2]] : pad0;
          const xShape: Shape4 = format === "NHWC" ? [b, h, w, ci] : [b, ci, h, w];
          const fShape: Shape4 = [k, k, ci, co];
          const yShape = convOut(xShape, fShape, stride, pad, format, rounding);
          if (yShape.some((d) => d <= 0)) continue;
          const xv = values(xShape);
          const fv = values(fShape);
          const dyv = values(yShape);
          const label = `${format} x=${xShape} f=${fShape} stride=${stride} pad=${JSON.stringify(pad)} ${rounding ?? ""}`;
          await expectWasmMatchesCpu(`dW ${label}`, () =>
            tf.engine().runKernel("Conv2DBackpropFilter", { x: tf.tensor(xv, xShape), dy: tf.tensor(dyv, yShape) }, {
              strides: stride, pad, dataFormat: format, ...roundingAttr(rounding), filterShape: fShape,
            }) as tf.Tensor,
          );
          await expectWasmMatchesCpu(`dX ${label}`, () =>
            tf.engine().runKernel("Conv2DBackpropInput", { dy: tf.tensor(dyv, yShape), filter: tf.tensor(fv, fShape) }, {
              strides: stride, pad, dataFormat: format, ...roundingAttr(rounding), inputShape: xShape,
            }) as tf.Tensor,
          );
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(40);
    });
  }

  it("through tf.grad of conv2d (what tfjs-layers' conv2d backward calls)", async () => {
    for (const [xShape, fShape, stride, pad] of [
      [[4, 28, 28, 1], [3, 3, 1, 8], 1, "valid"],
      [[3, 13, 11, 8], [3, 3, 8, 16], 1, "same"],
      [[2, 14, 15, 6], [3, 3, 6, 5], 2, "same"],
      [[2, 15, 14, 6], [3, 3, 6, 5], 2, "valid"],
    ] as [Shape4, Shape4, number, "same" | "valid"][]) {
      const xv = values(xShape);
      const fv = values(fShape);
      const yShape = convOut(xShape, fShape, stride, pad, "NHWC");
      const dyv = values(yShape);
      await expectWasmMatchesCpu(`grad conv2d x=${xShape} f=${fShape} s=${stride} ${pad}`, () => {
        const g = tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, pad));
        return g([tf.tensor4d(xv, xShape), tf.tensor4d(fv, fShape)], tf.tensor4d(dyv, yShape));
      });
    }
  });
});

describe("MaxPoolGrad matches cpu", () => {
  const shapes: Shape4[] = [[1, 4, 4, 1], [2, 7, 9, 3], [3, 8, 6, 2], [2, 11, 11, 4], [1, 2, 3, 1], [2, 26, 26, 3]];
  const pools: { f: number | [number, number]; s: number | [number, number]; pad: Pad; rounding?: "floor" | "ceil" }[] = [
    { f: 2, s: 2, pad: "valid" },
    { f: 2, s: 2, pad: "same" },
    { f: 3, s: 3, pad: "valid" },
    { f: 3, s: 2, pad: "same" },
    { f: 3, s: 2, pad: "valid" },
    { f: 2, s: 1, pad: "valid" },
    { f: 3, s: 1, pad: "same" },
    { f: [2, 3], s: [2, 3], pad: "same" },
    { f: 2, s: 3, pad: "valid" },
    { f: 2, s: 2, pad: 1, rounding: "ceil" },
    { f: 1, s: 1, pad: 1, rounding: "floor" },
  ];
  // Ties and all-negative windows are where stock wasm's MaxPoolGrad goes wrong.
  const kinds: Record<string, () => number> = {
    normal: rand,
    ties: () => Math.round(rand() * 4),
    negative: () => -Math.abs(rand()) - 0.1,
    zeros: () => (rand() > 0.3 ? 0 : -1),
    infinities: () => {
      const r = rand();
      return r > 0.35 ? -Infinity : r < -0.45 ? Infinity : r;
    },
  };
  for (const [kind, gen] of Object.entries(kinds)) {
    it(`with ${kind} inputs`, async () => {
      let compared = 0;
      for (const xShape of shapes) {
        for (const { f, s, pad, rounding } of pools) {
          let outShape: number[];
          try {
            outShape = tf.backend_util.computePool2DInfo(xShape, f, s, 1, pad, rounding).outShape;
          } catch {
            continue;
          }
          if (outShape.some((d) => d <= 0)) continue;
          const xv = values(xShape, gen);
          const dyv = values(outShape);
          await expectWasmMatchesCpu(`maxPoolGrad ${kind} x=${xShape} f=${f} s=${s} pad=${pad} ${rounding ?? ""}`, () => {
            const x = tf.tensor4d(xv, xShape);
            // `output` is unused: cpu and these kernels both recompute the window max from x.
            const y = tf.tensor4d(values(outShape, () => 0), outShape as Shape4);
            return tf.engine().runKernel("MaxPoolGrad", { dy: tf.tensor4d(dyv, outShape as Shape4), input: x, output: y }, {
              filterSize: f, strides: s, pad, ...roundingAttr(rounding),
            }) as tf.Tensor;
          });
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(40);
    });
  }

  it("adds overlapping windows' gradients as cpu does: in float64, rounded once (bit for bit)", async () => {
    // The centre wins all nine 3x3 windows around it: 1 from the first, 2^-24 from each of the others,
    // which float32 additions would drop one by one (cpu's float64 sum gives 1 + 2^-21).
    const fn = () => {
      const x = tf.tensor4d(Float32Array.from({ length: 25 }, (_, i) => (i === 12 ? 10 : -1)), [1, 5, 5, 1]);
      const dyv = new Float32Array(25);
      for (let oh = 1; oh <= 3; oh++) for (let ow = 1; ow <= 3; ow++) dyv[oh * 5 + ow] = oh === 1 && ow === 1 ? 1 : 2 ** -24;
      const dy = tf.tensor4d(dyv, [1, 5, 5, 1]);
      return tf.engine().runKernel("MaxPoolGrad", { dy, input: x, output: dy }, { filterSize: 3, strides: 1, pad: "same" }) as tf.Tensor;
    };
    const [want] = await on("cpu", fn, true);
    const [got] = await on("wasm", fn, true);
    expect(want.v[12]).toBe(Math.fround(1 + 2 ** -21));
    expect(got.v).toEqual(want.v);
  });

  it("through tf.grad of maxPool after a linear conv (all-negative windows)", async () => {
    const xv = values([4, 12, 10, 3]);
    const fv = values([3, 3, 3, 5]);
    await expectWasmMatchesCpu("grad maxPool(conv2d)", () => {
      const f = (x: tf.Tensor) =>
        tf.sum(tf.mul(tf.maxPool(tf.sub(tf.conv2d(x as tf.Tensor4D, tf.tensor4d(fv, [3, 3, 3, 5]), 1, "same"), 2), 2, 2, "valid"), 3));
      return tf.grad(f)(tf.tensor4d(xv, [4, 12, 10, 3]));
    });
  });
});

describe("Sum matches cpu", () => {
  it("over leading axes (float64 column sums), with and without keepDims, and any other reduction (stock)", async () => {
    const cases: [number[], number | number[]][] = [
      [[32, 128], 0],
      [[7, 5, 3], [0, 1]],
      [[7, 5, 3], [1, 0]],
      [[4, 6], -2],
      [[3, 4, 5], 2], // trailing: stock
      [[3, 4, 5], 1], // middle: stock
      [[3, 4], [0, 1]], // everything: stock
      [[1, 9], 0],
    ];
    for (const [shape, axis] of cases) {
      const v = values(shape);
      for (const keepDims of [false, true]) {
        await expectWasmMatchesCpu(`sum ${shape} axis ${axis} keepDims ${keepDims}`, () => tf.sum(tf.tensor(v, shape), axis, keepDims));
      }
    }
    // float64 sums: 1e8 + 1 − 1e8 over a column is 1 (float32 would give 0).
    await tf.setBackend("wasm");
    const column = tf.tensor([1e8, 1, -1e8], [3, 1]);
    expect(Array.from(tf.sum(column, 0).dataSync())).toEqual([1]);
  });
});

describe("BatchMatMul matches cpu", () => {
  const cases: [number[], number[]][] = [
    [[5, 7], [7, 3]],
    [[32, 160], [160, 12]],
    [[3, 5, 7], [7, 4]],
    [[2, 3, 5, 7], [7, 4]],
    [[3, 5, 7], [3, 7, 4]],
    [[1, 5, 7], [7, 40]],
    [[5, 7], [1, 7, 40]],
    [[4, 2, 5, 7], [1, 7, 6]],
    [[1, 7], [7, 1]],
    // Both batched (attention): slice by slice in the SIMD sgemm.
    [[2, 4, 9, 6], [2, 4, 6, 5]],
    [[16, 50, 16], [16, 16, 50]],
  ];
  it("for every transpose combination, batched and broadcast", async () => {
    for (const [as, bs] of cases) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const aShape = tA ? [...as.slice(0, -2), as[as.length - 1], as[as.length - 2]] : as;
          const bShape = tB ? [...bs.slice(0, -2), bs[bs.length - 1], bs[bs.length - 2]] : bs;
          const av = values(aShape);
          const bv = values(bShape);
          await expectWasmMatchesCpu(`matMul a=${aShape} b=${bShape} tA=${tA} tB=${tB}`, () =>
            tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), tA, tB),
          );
        }
      }
    }
  });
});

describe("whole-network gradients match cpu", () => {
  it("conv(same) -> pool -> conv(valid, stride 2) -> dense -> softmax cross-entropy", async () => {
    const shapes = {
      x: [6, 16, 14, 2], w1: [3, 3, 2, 8], w2: [3, 3, 8, 12], w3: [3 * 3 * 12, 10], y: [6, 10],
    } as const;
    const v = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, values(s)])) as Record<keyof typeof shapes, Float32Array>;
    await expectWasmMatchesCpu("network grads", () => {
      const x = tf.tensor(v.x, [...shapes.x]);
      const labels = tf.softmax(tf.tensor2d(v.y, [...shapes.y]));
      const loss = (w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor) => {
        let h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, "same"));
        h = tf.maxPool(h, 2, 2, "valid");
        h = tf.tanh(tf.conv2d(h, w2 as tf.Tensor4D, 2, "valid"));
        const logits = tf.matMul(tf.reshape(h, [shapes.x[0], -1]), w3 as tf.Tensor2D);
        return tf.losses.softmaxCrossEntropy(labels, logits);
      };
      return tf.grads(loss)([tf.tensor(v.w1, [...shapes.w1]), tf.tensor(v.w2, [...shapes.w2]), tf.tensor(v.w3, [...shapes.w3])]);
    }, 2e-4, false);
  });

  it("attention block: batched matMul (transposeB), softmax, layer norm, gelu, tile, slice, concat", async () => {
    const [b, t, c, d] = [3, 5, 6, 4];
    const xv = values([b, t, c]);
    const wv = [0, 1, 2].map(() => values([c, d]));
    const yv = values([b, 3]);
    await expectWasmMatchesCpu("attention grads", () => {
      const x = tf.tensor3d(xv, [b, t, c]);
      const loss = (wq: tf.Tensor, wk: tf.Tensor, wv2: tf.Tensor) => {
        const flat = tf.reshape(x, [b * t, c]);
        const proj = (w: tf.Tensor) => tf.reshape(tf.matMul(flat, w as tf.Tensor2D), [b, t, d]);
        const q = proj(wq);
        const k = proj(wk);
        const v = proj(wv2);
        const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)));
        let h = tf.add(tf.matMul(att, v), tf.transpose(tf.transpose(q, [0, 2, 1]), [0, 2, 1]));
        const { mean, variance } = tf.moments(h, -1, true);
        h = tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-3)));
        h = tf.mul(h, tf.mul(0.5, tf.add(1, tf.erf(tf.div(h, Math.SQRT2))))); // gelu
        const first = tf.tile(tf.slice(h, [0, 0, 0], [b, 1, d]), [1, t, 1]);
        const both = tf.concat([h, first], 2);
        const logits = tf.matMul(tf.reshape(both, [b, t * 2 * d]), tf.ones([t * 2 * d, 3]), false, false);
        return tf.losses.softmaxCrossEntropy(tf.softmax(tf.tensor2d(yv, [b, 3])), logits);
      };
      return tf.grads(loss)(wv.map((w) => tf.tensor2d(w, [c, d])));
    }, 2e-4, false);
  });
});

/** Self-attention with batched matMul (transposeB), softmax, reshape, transpose, concat, slice, tile. */
class TinyAttention extends tfl.layers.Layer {
  static className = "TinyAttention";
  private wq!: tfl.LayerVariable;
  private wk!: tfl.LayerVariable;
  private wv!: tfl.LayerVariable;
  constructor(private readonly dim: number) {
    super({});
  }
  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const s = inputShape as number[];
    const init = tfl.initializers.glorotUniform({ seed: 3 });
    this.wq = this.addWeight("wq", [s[2], this.dim], "float32", init);
    this.wk = this.addWeight("wk", [s[2], this.dim], "float32", init);
    this.wv = this.addWeight("wv", [s[2], this.dim], "float32", init);
    this.built = true;
  }
  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = inputShape as number[];
    return [s[0], s[1], 2 * this.dim];
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [b, t, c] = x.shape;
      const flat = tf.reshape(x, [b * t, c]);
      const proj = (w: tfl.LayerVariable) => tf.reshape(tf.matMul(flat, w.read()), [b, t, this.dim]);
      const q = proj(this.wq);
      const k = proj(this.wk);
      const v = proj(this.wv);
      const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(this.dim)));
      const ctx = tf.add(tf.matMul(att, v), q);
      const first = tf.tile(tf.slice(ctx, [0, 0, 0], [b, 1, this.dim]), [1, t, 1]);
      const swapped = tf.transpose(tf.transpose(ctx, [0, 2, 1]), [0, 2, 1]);
      return tf.concat([swapped, tf.mul(first, 0.5)], 2);
    });
  }
}
tf.serialization.registerClass(TinyAttention);

function cnn(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [12, 12, 1], filters: 8, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: "valid", activation: "relu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 32, activation: "relu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  m.add(tfl.layers.dense({ units: 4, activation: "softmax", kernelInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }));
  return m;
}

function attentionNet(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [6, 5], units: 8, activation: "gelu", kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }));
  m.add(new TinyAttention(8));
  m.add(tfl.layers.layerNormalization());
  m.add(tfl.layers.dropout({ rate: 0.1, seed: 7 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 4, activation: "softmax", kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) }));
  return m;
}

/**
 * A fixed batch whose class (i % 4) is visible in the data: images get a bright quadrant, sequences a
 * raised feature. Noise everywhere else.
 */
function batch(xShape: number[]): { xv: Float32Array; labels: number[] } {
  const [n] = xShape;
  const xv = values(xShape, () => 0.3 * rand());
  const per = xv.length / n;
  const labels = Array.from({ length: n }, (_, i) => i % 4);
  for (let i = 0; i < n; i++) {
    if (xShape.length === 4) {
      const [, h, w, c] = xShape;
      const r0 = labels[i] < 2 ? 0 : h / 2;
      const c0 = labels[i] % 2 === 0 ? 0 : w / 2;
      for (let r = r0; r < r0 + h / 2; r++) for (let q = c0; q < c0 + w / 2; q++) for (let k = 0; k < c; k++) xv[i * per + (r * w + q) * c + k] += 1;
    } else {
      const [, t, f] = xShape;
      for (let r = 0; r < t; r++) xv[i * per + r * f + labels[i]] += 1;
    }
  }
  return { xv, labels };
}

/** Trains on one fixed batch; returns the losses and checks tensors/data ids stay flat after warm-up. */
async function trainFixedBatch(model: tfl.Sequential, optimizer: tf.Optimizer, xShape: number[], steps: number): Promise<number[]> {
  await tf.setBackend("wasm");
  model.compile({ optimizer, loss: "categoricalCrossentropy" });
  const { xv, labels } = batch(xShape);
  const x = tf.tensor(xv, xShape);
  const y = tf.oneHot(tf.tensor1d(labels, "int32"), 4);
  const losses: number[] = [];
  losses.push(Number(await model.trainOnBatch(x, y)));
  const tensors = tf.memory().numTensors;
  const dataIds = tf.engine().backend.numDataIds();
  for (let i = 1; i < steps; i++) losses.push(Number(await model.trainOnBatch(x, y)));
  expect(tf.memory().numTensors).toBe(tensors);
  expect(tf.engine().backend.numDataIds()).toBe(dataIds);
  tf.dispose([x, y]);
  model.dispose();
  return losses;
}

describe("training on wasm", () => {
  it("a conv-pool-conv-pool-dense CNN with adam: loss falls, nothing leaks", async () => {
    const losses = await trainFixedBatch(cnn(), tf.train.adam(0.01), [16, 12, 12, 1], 25);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
  });

  it("the same CNN with sgd: loss falls", async () => {
    const losses = await trainFixedBatch(cnn(), tf.train.sgd(0.1), [16, 12, 12, 1], 30);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(0.8 * losses[0]);
  });

  it("a tiny attention net (layerNormalization, dropout, gelu) with adam and sgd: loss falls, nothing leaks", async () => {
    const adam = await trainFixedBatch(attentionNet(), tf.train.adam(0.01), [16, 6, 5], 30);
    expect(adam[adam.length - 1]).toBeLessThan(0.5 * adam[0]);
    const sgd = await trainFixedBatch(attentionNet(), tf.train.sgd(0.1), [16, 6, 5], 30);
    expect(sgd[sgd.length - 1]).toBeLessThan(0.8 * sgd[0]);
  });

  it("model.fit with a strided conv runs on wasm", async () => {
    await tf.setBackend("wasm");
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [10, 9, 2], filters: 4, kernelSize: 3, strides: 2, padding: "same", activation: "relu" }));
    m.add(tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "valid" }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 4, activation: "softmax" }));
    m.compile({ optimizer: tf.train.adam(0.01), loss: "categoricalCrossentropy" });
    const x = tf.tensor(values([8, 10, 9, 2]), [8, 10, 9, 2]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], "int32"), 4);
    const h = await m.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
    expect((h.history.loss as number[]).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    m.dispose();
  });
});
