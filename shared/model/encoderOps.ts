/**
 * GELU and layer normalisation for the fusion model's encoder. Where the active backend has the fused
 * kernels (encoderKernelNames.ts; the native path registers them on wasm), each is one kernel forward
 * and one backward, through tf.customGrad; elsewhere it is composed from standard ops, which is also the
 * reference the fused kernels are tested against. Same formulas either way: a model trained on one
 * backend evaluates the same on another, to float32 rounding.
 */
import * as tf from "@tensorflow/tfjs-core";
import { activeBackendHas } from "../backends/activeBackendHas.js";
import {
  GELU_GRAD_KERNEL,
  GELU_KERNEL,
  LAYER_NORM_EPSILON,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
} from "../backends/encoderKernelNames.js";


/** GELU, tanh approximation (as in GPT-2/BERT); built from ops every backend has, unlike erf. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (activeBackendHas(GELU_KERNEL, GELU_GRAD_KERNEL)) return fusedGelu(x);
  return geluComposite(x);
}

export function geluComposite(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(x, tf.mul(x, x)))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

// tf.customGrad passes the inputs, then the save function, as one rest list.
type CustomArgs = (tf.Tensor | tf.GradSaveFunc)[];

const fusedGelu = tf.customGrad((...args: CustomArgs) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(GELU_GRAD_KERNEL, { dy, x: saved[0] }) as tf.Tensor,
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** Layer normalisation over the last axis: (x − mean)/sqrt(var + 1e-5)·gamma + beta. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  if (activeBackendHas(LAYER_NORM_KERNEL, LAYER_NORM_GRAD_KERNEL)) return fusedLayerNorm(x, gamma, beta);
  return layerNormComposite(x, gamma, beta);
}

export function layerNormComposite(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LAYER_NORM_EPSILON))), gamma), beta);
}

const fusedLayerNorm = tf.customGrad((...args: CustomArgs) => {
  const [x, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([x, gamma]);
  return {
    value: tf.engine().runKernel(LAYER_NORM_KERNEL, { x, gamma, beta }) as tf.Tensor,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, x: saved[0], gamma: saved[1] }) as tf.Tensor[],
  };
}) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
