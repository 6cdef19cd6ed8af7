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
import { convPoolFused, convReluPool } from "./convPoolOp.js";
import { convPoolLayers, layerChain, type ConvPoolLayers } from "./layerChain.js";

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
  const layers = layerChain(model);
  if (layers === null) return null;
  const steps: Step[] = [];
  let fusedAny = false;
  for (let i = 0; i < layers.length; i++) {
    const block = i + 1 < layers.length ? convPoolLayers(layers[i], layers[i + 1]) : null;
    if (block !== null) {
      steps.push(blockStep(block, i > 0));
      fusedAny = true;
      i++;
      continue;
    }
    const layer = layers[i];
    steps.push((x, training) => layer.apply(x, { training }) as tf.Tensor);
  }
  return fusedAny ? steps : null;
}

function blockStep({ pad, kernel, bias }: ConvPoolLayers, inputGradient: boolean): Step {
  // read() gives the variables themselves, so gradients reach them as through the layer.
  return (x) => convReluPool(x as tf.Tensor4D, kernel.read() as tf.Tensor4D, bias.read() as tf.Tensor1D, pad, inputGradient);
}
