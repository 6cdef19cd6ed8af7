/**
 * GELU, layer normalisation and multi-head attention for the fusion model's encoder. Where the active
 * backend has the fused kernels (encoderKernelNames.ts; the native path registers them on wasm), each is
 * one kernel forward and one backward, through tf.customGrad; elsewhere it is composed from standard ops,
 * which is also the reference the fused kernels are tested against. Same formulas either way: a model trained on one
 * backend evaluates the same on another, to float32 rounding.
 */
import * as tf from "@tensorflow/tfjs-core";
import { activeBackendHas } from "../backends/activeBackendHas.js";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
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

/**
 * Multi-head self-attention's core: q, k, v [batch·tokens, heads·headDim] (the query, key and value
 * projections), each image's tokens attending to each other per head: softmax(Q·Kᵀ/√headDim)·V, the heads
 * side by side again in the result [batch·tokens, heads·headDim].
 */
export function multiHeadAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const scale = 1 / Math.sqrt(q.shape[1] / heads);
  if (activeBackendHas(ATTENTION_KERNEL, ATTENTION_GRAD_KERNEL)) return fusedAttention(batch, heads, scale)(q, k, v);
  return attentionComposite(q, k, v, batch, heads);
}

export function attentionComposite(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, batch: number, heads: number): tf.Tensor2D {
  const [rows, dim] = q.shape;
  const tokens = rows / batch;
  const headDim = dim / heads;
  // [batch·tokens, dim] -> [batch·heads, tokens, headDim]
  const split = (t: tf.Tensor) =>
    tf.reshape(tf.transpose(tf.reshape(t, [batch, tokens, heads, headDim]), [0, 2, 1, 3]), [batch * heads, tokens, headDim]) as tf.Tensor3D;
  const weights = tf.softmax(tf.matMul(split(tf.mul(q, 1 / Math.sqrt(headDim))), split(k), false, true));
  const mixed = tf.matMul(weights, split(v)); // [batch·heads, tokens, headDim]
  return tf.reshape(tf.transpose(tf.reshape(mixed, [batch, heads, tokens, headDim]), [0, 2, 1, 3]), [rows, dim]) as tf.Tensor2D;
}

function fusedAttention(batch: number, heads: number, scale: number): (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D {
  const attrs = { batch, heads, scale };
  return tf.customGrad((...args: CustomArgs) => {
    const [q, k, v, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [out, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v }, attrs) as tf.Tensor[];
    save([q, k, v, probs]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, q: saved[0], k: saved[1], v: saved[2], probs: saved[3] }, attrs) as tf.Tensor[],
    };
  }) as (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D) => tf.Tensor2D;
}
