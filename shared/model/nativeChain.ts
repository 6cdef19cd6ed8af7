/**
 * A chain model run outside tfjs: its layers as stages (nativeStages.ts) over arrays allocated once, for
 * training (client/training/nativeChainTrainer.ts) and evaluation (evaluate.ts), computed by the native
 * addon on the native path and by the project's WebAssembly SIMD kernels on the wasm fallback
 * (chainKernels.ts). Through tfjs a `cnn` step is ~55 kernel calls whose bookkeeping cost more than their
 * arithmetic; here it is a dozen kernel calls.
 *
 * Chains of conv blocks, Flatten and Dense layers (ReLU, linear; with or without bias) ending in a softmax:
 * `cnn`, `large`, and Sequential or functional models built the same way (on the wasm fallback, only those
 * whose conv blocks the SIMD kernels take: a first layer's). Anything else is null, and its caller goes
 * through tfjs.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import type { Augmenter } from "../data/augment.js";
import { fillBatch, type BatchArrays } from "../data/batches.js";
import type { ImageDataset } from "../data/imageDataset.js";
import { activeChainKernels, chainFloats, type ChainKernels } from "./chainKernels.js";
import { convPoolLayers, layerChain, layerWeight } from "./layerChain.js";
import { convPoolStage, DenseStage, loadWeights, type DenseActivation, type Param, type Stage } from "./nativeStages.js";

export interface NativeChain {
  readonly kernels: ChainKernels;
  readonly stages: readonly Stage[];
  readonly params: readonly Param[];
  /** The model's input [height, width, channels] and its classes. */
  readonly imageShape: readonly number[];
  readonly classes: number;
  readonly batchSize: number;
  /** The input of the last forward pass. */
  readonly batch: BatchArrays;
}

/**
 * The model's chain for batches of up to batchSize, with the weights loaded from the model, or null when no
 * chain kernels apply (neither the native path nor plain wasm) or the model is not such a chain.
 * `inputGradients`: for training (every stage but the first keeps a buffer for its input's gradient).
 */
export function nativeChain(model: tfl.LayersModel, batchSize: number, inputGradients: boolean): NativeChain | null {
  const layers = layerChain(model);
  if (layers === null) return null;
  const kernels = activeChainKernels(() => chainFloats(model, batchSize));
  if (kernels === null) return null;
  const imageShape = model.inputs[0].shape.slice(1) as number[];
  const stages = planStages(kernels, layers, imageShape, batchSize, inputGradients);
  if (stages === null) return null;
  const params = stages.flatMap((s) => s.params);
  loadWeights(params);
  const classes = stages[stages.length - 1].outSize;
  const batch = { pixels: kernels.float32(batchSize * stages[0].inSize), oneHot: kernels.float32(batchSize * classes) };
  return { kernels, stages, params, imageShape, classes, batchSize, batch };
}

/**
 * The class probabilities [n, classes] of the examples order[start..end) (at most batchSize), and their
 * one-hot labels, as makeBatch would build them. `what` starts the error for a batch that does not fit.
 */
export function nativeForward(
  chain: NativeChain,
  data: ImageDataset,
  order: ArrayLike<number>,
  start: number,
  end: number,
  what: string,
  augment?: Augmenter,
): { p: Float32Array; oneHot: Float32Array } {
  const n = end - start;
  const [h, w, c] = chain.imageShape;
  if (data.height !== h || data.width !== w || data.channels !== c || data.classNames.length !== chain.classes || n > chain.batchSize) {
    throw new Error(
      `${what}: a batch of ${n} ${data.height}x${data.width}x${data.channels} images in ${data.classNames.length} classes ` +
        `does not fit the model (${h}x${w}x${c}, ${chain.classes} classes, batches of at most ${chain.batchSize})`,
    );
  }
  const { pixels, oneHot } = fillBatch(data, order, start, end, augment, chain.batch);
  let a = pixels;
  for (const stage of chain.stages) a = stage.forward(a, n);
  return { p: a, oneHot };
}

/** The model's layers as stages, or null when one of them is not a supported kind or configuration. */
function planStages(kernels: ChainKernels, layers: tfl.layers.Layer[], imageShape: number[], batchSize: number, inputGradients: boolean): Stage[] | null {
  if (layers.some((l) => !l.trainable)) return null;
  // The loss is the cross-entropy of probabilities: the chain must end in a softmax.
  const end = layers[layers.length - 1];
  if (end.getClassName() !== "Dense" || (end.getConfig() as { activation?: string }).activation !== "softmax") return null;
  // Images: [height, width, channels], as batches are built.
  if (imageShape.length !== 3 || imageShape.some((d) => d === null)) return null;
  let shape = imageShape;
  const stages: Stage[] = [];
  const gradient = () => inputGradients && stages.length > 0;
  for (let i = 0; i < layers.length; i++) {
    const last = i === layers.length - 1;
    const block = last ? null : convPoolLayers(layers[i], layers[i + 1]);
    if (block !== null) {
      if (shape.length !== 3) return null;
      const stage = convPoolStage(kernels, block, shape, batchSize, gradient());
      if (stage === null) return null;
      shape = [...stage.outShape];
      stages.push(stage);
      i++;
      continue;
    }
    const layer = layers[i];
    const config = layer.getConfig() as { dataFormat?: string; activation?: string; useBias?: boolean };
    switch (layer.getClassName()) {
      case "Flatten":
        // Unless channelsFirst (then it transposes first), flattening is a reshape: the same values in the same order.
        if (config.dataFormat === "channelsFirst") return null;
        shape = [shape.reduce((a, b) => a * b, 1)];
        continue;
      case "Dense": {
        const activation = config.activation as DenseActivation;
        const ok = activation === "relu" || activation === "linear" || (activation === "softmax" && last);
        const kernel = layerWeight(layer, "kernel");
        const bias = config.useBias ? layerWeight(layer, "bias") : null;
        if (!ok || shape.length !== 1 || !kernel || bias === undefined || kernel.shape[0] !== shape[0]) return null;
        const stage = new DenseStage(kernels, kernel, bias, activation, batchSize, gradient());
        shape = [stage.outSize];
        stages.push(stage);
        continue;
      }
      default:
        return null;
    }
  }
  return stages;
}
