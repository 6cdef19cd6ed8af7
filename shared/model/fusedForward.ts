/**
 * A layers model's forward pass with each Conv2D(ReLU) → MaxPooling2D(2) pair run as one fused conv block
 * (convPoolOp.ts) where the backend has its kernels. tfjs-layers runs such a pair, in training, as four
 * kernels forward and five backward, each a pass over the full-size conv output (its fused conv kernel is
 * not used under a gradient tape); `cnn`'s block was most of its training step, and its fused conv +
 * separate max pool most of its evaluation.
 *
 * The model itself is unchanged (same layers, weights and model.json), only the order of arithmetic inside
 * a block differs, to float32 rounding. Models that are not a plain chain of layers, and backends without
 * the kernels, get `model.apply` as it is.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { convPoolFused, convReluPool, type ConvPad } from "./convPoolOp.js";

type Step = (x: tf.Tensor, training: boolean) => tf.Tensor;

/** Each model's steps, planned once (a model's layers do not change once it is built). */
const plans = new WeakMap<tfl.LayersModel, Step[] | null>();

/** model.apply(x, { training }), with its conv blocks fused where the active backend has the kernels. */
export function fusedForward(model: tfl.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  let steps = plans.get(model);
  if (steps === undefined) {
    steps = chainSteps(model);
    plans.set(model, steps);
  }
  if (steps === null || !convPoolFused()) return model.apply(x, { training }) as tf.Tensor;
  return steps.reduce((t, step) => step(t, training), x);
}

/** The model's layers as steps, conv blocks fused, when it has some and is a single-input chain; else null. */
function chainSteps(model: tfl.LayersModel): Step[] | null {
  const layers = model.layers;
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || layers[0]?.getClassName() !== "InputLayer") return null;
  for (let i = 1; i < layers.length; i++) {
    const nodes = layers[i].inboundNodes;
    if (nodes.length !== 1 || nodes[0].inboundLayers.length !== 1 || nodes[0].inboundLayers[0] !== layers[i - 1]) return null;
  }
  if (model.outputs[0] !== layers[layers.length - 1].output) return null;
  const steps: Step[] = [];
  let fusedAny = false;
  for (let i = 1; i < layers.length; i++) {
    const block = i + 1 < layers.length ? fusableBlock(layers[i], layers[i + 1]) : null;
    if (block !== null) {
      steps.push(blockStep(block, i > 1));
      fusedAny = true;
      i++;
      continue;
    }
    const layer = layers[i];
    steps.push((x, training) => layer.apply(x, { training }) as tf.Tensor);
  }
  return fusedAny ? steps : null;
}

interface ConvConfig {
  strides?: number | number[];
  dilationRate?: number | number[];
  padding?: string;
  dataFormat?: string;
  activation?: string;
  useBias?: boolean;
}

interface PoolConfig {
  poolSize?: number | number[];
  strides?: number | number[];
  padding?: string;
  dataFormat?: string;
}

const all = (v: number | number[] | undefined, want: number) => (Array.isArray(v) ? v.every((e) => e === want) : v === want);

interface Block {
  pad: ConvPad;
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
}

/** The conv's padding and weights when (conv, pool) is a block the fused op computes exactly; else null. */
function fusableBlock(conv: tfl.layers.Layer, pool: tfl.layers.Layer): Block | null {
  if (conv.getClassName() !== "Conv2D" || pool.getClassName() !== "MaxPooling2D") return null;
  const c = conv.getConfig() as ConvConfig;
  const p = pool.getConfig() as PoolConfig;
  const convOk =
    all(c.strides, 1) && all(c.dilationRate, 1) && c.activation === "relu" && c.useBias === true && c.dataFormat === "channelsLast";
  const poolOk = all(p.poolSize, 2) && all(p.strides, 2) && p.padding === "valid" && p.dataFormat === "channelsLast";
  if (!convOk || !poolOk || (c.padding !== "valid" && c.padding !== "same")) return null;
  const kernel = conv.weights.find((w) => w.originalName.endsWith("/kernel"));
  const bias = conv.weights.find((w) => w.originalName.endsWith("/bias"));
  return kernel && bias ? { pad: c.padding, kernel, bias } : null;
}

function blockStep({ pad, kernel, bias }: Block, inputGradient: boolean): Step {
  // read() gives the variables themselves, so gradients reach them as through the layer.
  return (x) => convReluPool(x as tf.Tensor4D, kernel.read() as tf.Tensor4D, bias.read() as tf.Tensor1D, pad, inputGradient);
}
