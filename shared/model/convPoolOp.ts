/**
 * The conv block of every model here — conv2d (stride 1) + bias + ReLU, then 2x2 max pooling with
 * stride 2 — as one op. Where the active backend has the fused kernels (convPoolKernelNames.ts; the native
 * path registers them on wasm) it is one kernel forward and one backward, through tf.customGrad; elsewhere
 * it is composed from the ops tfjs-layers' Conv2D and MaxPooling2D run in training, which is also the
 * reference the fused kernels are tested against.
 */
import * as tf from "@tensorflow/tfjs-core";
import { activeBackendHas } from "../backends/activeBackendHas.js";
import { CONV_POOL_GRAD_KERNEL, CONV_POOL_KERNEL } from "../backends/convPoolKernelNames.js";

export type ConvPad = "valid" | "same";

/** Whether the active backend runs the block as fused kernels. */
export function convPoolFused(): boolean {
  return activeBackendHas(CONV_POOL_KERNEL, CONV_POOL_GRAD_KERNEL);
}

/**
 * maxPool2x2(relu(conv2d(x, filter, stride 1, pad) + bias)). `inputGradient: false` (x is the model's
 * input, which nothing trains) lets the fused backward skip dx: it then returns zeros for x.
 */
export function convReluPool(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, pad: ConvPad, inputGradient = true): tf.Tensor4D {
  if (convPoolFused()) return fusedBlock(pad, inputGradient)(x, filter, bias);
  return convReluPoolComposite(x, filter, bias, pad);
}

export function convReluPoolComposite(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, pad: ConvPad): tf.Tensor4D {
  return tf.maxPool(tf.relu(tf.add(tf.conv2d(x, filter, 1, pad), bias)), 2, 2, "valid");
}

// tf.customGrad passes the inputs, then the save function, as one rest list.
type CustomArgs = (tf.Tensor | tf.GradSaveFunc)[];
type Block = (x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D) => tf.Tensor4D;

const blocks = new Map<string, Block>();

/** One customGrad op per (pad, inputGradient): the attributes are fixed when the op is made. */
function fusedBlock(pad: ConvPad, inputGradient: boolean): Block {
  const key = `${pad}/${inputGradient}`;
  let block = blocks.get(key);
  if (block === undefined) {
    block = tf.customGrad((...args: CustomArgs) => {
      const [x, filter, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
      const [y, argmax] = tf.engine().runKernel(CONV_POOL_KERNEL, { x, filter, bias }, { pad }) as tf.Tensor4D[];
      save([x, filter, y, argmax]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sfilter, sy, sargmax] = saved;
          const grads = tf.engine().runKernel(
            CONV_POOL_GRAD_KERNEL,
            { dy, x: sx, filter: sfilter, y: sy, argmax: sargmax },
            { pad, inputGradient },
          ) as tf.Tensor[];
          const [dfilter, dbias, dx] = grads;
          return [dx ?? tf.zerosLike(sx), dfilter, dbias];
        },
      };
    }) as unknown as Block;
    blocks.set(key, block);
  }
  return block;
}
