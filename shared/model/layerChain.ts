/**
 * Recognising what a model is made of, for the code that runs it faster than layer by layer
 * (fusedForward.ts, and nativeChain.ts, which runs chain models outside tfjs): whether it is
 * a plain chain of layers, and which of its layer pairs are conv blocks the fused kernels compute exactly.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import type { ConvPad } from "./convPoolOp.js";

/**
 * The model's layers, its input layer left out, when it is a single-input chain — each layer's one input
 * is the previous layer's output (the first's the model's input) and the last layer's output is the
 * model's — else null. Functional models and Sequential ones alike.
 */
export function layerChain(model: tfl.LayersModel): tfl.layers.Layer[] | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  // A functional model lists its InputLayer, a Sequential one does not.
  const layers = model.layers[0]?.getClassName() === "InputLayer" ? model.layers.slice(1) : model.layers;
  let previous = model.inputs[0];
  for (const layer of layers) {
    const nodes = layer.inboundNodes;
    if (nodes.length !== 1 || nodes[0].inputTensors.length !== 1 || nodes[0].inputTensors[0] !== previous) return null;
    previous = nodes[0].outputTensors[0];
  }
  return layers.length > 0 && previous === model.outputs[0] ? layers : null;
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

/** A Conv2D(ReLU, stride 1, bias) → MaxPooling2D(2, stride 2) pair: the conv's padding and weights. */
export interface ConvPoolLayers {
  pad: ConvPad;
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
}

/** The conv's padding and weights when (conv, pool) is a block the fused op computes exactly; else null. */
export function convPoolLayers(conv: tfl.layers.Layer, pool: tfl.layers.Layer): ConvPoolLayers | null {
  if (conv.getClassName() !== "Conv2D" || pool.getClassName() !== "MaxPooling2D") return null;
  const c = conv.getConfig() as ConvConfig;
  const p = pool.getConfig() as PoolConfig;
  const convOk =
    all(c.strides, 1) && all(c.dilationRate, 1) && c.activation === "relu" && c.useBias === true && c.dataFormat === "channelsLast";
  const poolOk = all(p.poolSize, 2) && all(p.strides, 2) && p.padding === "valid" && p.dataFormat === "channelsLast";
  if (!convOk || !poolOk || (c.padding !== "valid" && c.padding !== "same")) return null;
  const kernel = layerWeight(conv, "kernel");
  const bias = layerWeight(conv, "bias");
  return kernel && bias ? { pad: c.padding, kernel, bias } : null;
}

/** A layer's weight by its own name ("kernel", "bias"), or undefined when it has none. */
export function layerWeight(layer: tfl.layers.Layer, name: string): tfl.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName.endsWith(`/${name}`));
}
