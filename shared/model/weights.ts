/**
 * A model's weights as plain named Float32Arrays, in the model's own (stable) order: the form in which
 * weights travel on the wire and reach the strategies.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { Random } from "../random.js";

export interface WeightSpec {
  name: string;
  shape: number[];
}

/**
 * The model's weights layer by layer, in creation order. (model.weights lists trainable weights first, so
 * its order changes when layers are frozen; this order does not.)
 */
function orderedWeights(model: tfl.LayersModel) {
  return model.layers.flatMap((l) => l.weights);
}

export function weightSpecs(model: tfl.LayersModel): WeightSpec[] {
  return orderedWeights(model).map((w) => ({ name: w.originalName, shape: [...w.shape] as number[] }));
}

export function parameterCount(specs: readonly WeightSpec[]): number {
  return specs.reduce((n, s) => n + elementCount(s.shape), 0);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function readWeights(model: tfl.LayersModel): Float32Array[] {
  return orderedWeights(model).map((w) => {
    const t = w.read();
    return new Float32Array(t.dataSync() as Float32Array);
  });
}

export function writeWeights(model: tfl.LayersModel, layers: readonly Float32Array[]): void {
  const vars = orderedWeights(model);
  if (layers.length !== vars.length) throw new Error(`expected ${vars.length} weight tensors, got ${layers.length}`);
  tf.tidy(() => {
    vars.forEach((v, i) => v.write(tf.tensor(layers[i], v.shape as number[], "float32")));
  });
}

/**
 * Seeded initial weights (the same seed gives the same global model in every process): Glorot-uniform
 * kernels, zero biases and betas, unit gammas, small normal embeddings.
 */
export function initialWeights(specs: readonly WeightSpec[], seed: number): Float32Array[] {
  const rng = new Random(seed);
  return specs.map(({ name, shape }) => {
    const n = elementCount(shape);
    const out = new Float32Array(n);
    const leaf = name.slice(name.lastIndexOf("/") + 1);
    if (/gamma$/.test(leaf)) out.fill(1);
    else if (/(bias|beta)$/.test(leaf)) out.fill(0);
    else if (/(class_token|position)$/.test(leaf)) for (let i = 0; i < n; i++) out[i] = 0.02 * rng.normal();
    else {
      const receptive = shape.length > 2 ? elementCount(shape.slice(0, -2)) : 1;
      const fanIn = (shape.length >= 2 ? shape[shape.length - 2] : shape[0]) * receptive;
      const fanOut = shape[shape.length - 1] * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * rng.next() - 1) * limit;
    }
    return out;
  });
}

/** a − b, layer by layer (the client's update). */
export function subtractLayers(a: readonly Float32Array[], b: readonly Float32Array[]): Float32Array[] {
  return a.map((x, l) => {
    const y = b[l];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = x[i] - y[i];
    return out;
  });
}

/** target += b, layer by layer, in place (global + delta without another model-sized allocation). */
export function addLayersInPlace(target: Float32Array[], b: readonly Float32Array[]): Float32Array[] {
  target.forEach((x, l) => {
    const y = b[l];
    for (let i = 0; i < x.length; i++) x[i] += y[i];
  });
  return target;
}
