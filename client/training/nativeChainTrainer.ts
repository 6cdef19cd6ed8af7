/**
 * A whole training step — forward pass, loss, backward pass, optimizer — with no tfjs kernel in it, for
 * models that are a plain chain of conv blocks, Flatten and Dense layers ending in a softmax (`cnn` and
 * `large`), on the native path. Through tfjs such a step is ~55 kernel calls (`cnn`), and tfjs's
 * per-call work (the tape, tensor bookkeeping, the optimizer's variables) cost more than the arithmetic
 * of so small a model: even with instant kernels `cnn` could not reach a quarter of the machine's sgemm
 * speed. Here a step is a dozen calls of the native addon on arrays allocated once.
 *
 * The result is the tfjs runner's to float32 rounding (tested): the same batches in the same order, the
 * same augmentation draws, the same loss, gradients, FedProx term and optimizer arithmetic (Adam's update
 * is the one FedfusionAdam kernel's loop). The weights are copied out of the model when the runner is made
 * and written back by finish(): a run that fails leaves the model as it was.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { AdamSchedule } from "../../shared/backends/adamKernel.js";
import { correctCountOf, crossEntropyGradOf, crossEntropyOf } from "../../shared/backends/lossKernels.js";
import { activeNativeAddon } from "../../shared/backends/native/activeAddon.js";
import type { NativeAddon } from "../../shared/backends/native/nativeAddon.js";
import type { Augmenter } from "../../shared/data/augment.js";
import { fillBatch, type BatchArrays } from "../../shared/data/batches.js";
import type { BatchView } from "../../shared/data/trainingSource.js";
import { convPoolLayers, layerChain } from "../../shared/model/layerChain.js";
import type { LocalTrainingConfig } from "./localTrainer.js";
import { ConvPoolStage, DenseStage, type DenseActivation, type Param, type Stage } from "./nativeStages.js";
import type { StepRunner } from "./stepRunner.js";

const f = Math.fround;

/** The native runner for this model and config, or null when the native path is not active or the model is not such a chain. */
export function nativeChainTrainer(model: tfl.LayersModel, config: LocalTrainingConfig, augmenter: Augmenter | undefined): StepRunner | null {
  const addon = activeNativeAddon();
  if (addon === null) return null;
  const stages = planStages(addon, model, config.batchSize);
  return stages === null ? null : new NativeChainTrainer(addon, model, stages, config, augmenter);
}

/** The model's layers as stages, or null when one of them is not a supported kind or configuration. */
function planStages(addon: NativeAddon, model: tfl.LayersModel, batchSize: number): Stage[] | null {
  const layers = layerChain(model);
  if (layers === null || layers.some((l) => !l.trainable)) return null;
  // The loss is the cross-entropy of probabilities: the chain must end in a softmax.
  const end = layers[layers.length - 1];
  if (end.getClassName() !== "Dense" || (end.getConfig() as { activation?: string }).activation !== "softmax") return null;
  // Images: [height, width, channels], as batches are built.
  let shape = model.inputs[0].shape.slice(1) as number[];
  if (shape.length !== 3 || shape.some((d) => d === null)) return null;
  const stages: Stage[] = [];
  for (let i = 0; i < layers.length; i++) {
    const last = i === layers.length - 1;
    const block = last ? null : convPoolLayers(layers[i], layers[i + 1]);
    if (block !== null) {
      if (shape.length !== 3) return null;
      const stage = new ConvPoolStage(addon, block, shape, batchSize, stages.length > 0);
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
        const kernel = layer.weights.find((w) => w.originalName.endsWith("/kernel"));
        const bias = config.useBias ? layer.weights.find((w) => w.originalName.endsWith("/bias")) : null;
        if (!ok || shape.length !== 1 || !kernel || bias === undefined || kernel.shape[0] !== shape[0]) return null;
        const stage = new DenseStage(addon, kernel, bias, activation, batchSize, stages.length > 0);
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

class NativeChainTrainer implements StepRunner {
  readonly kind = "native";
  private readonly params: Param[];
  private readonly inSize: number;
  private readonly classes: number;
  private readonly batch: BatchArrays;
  private readonly dp: Float32Array;
  private readonly adam: { schedule: AdamSchedule; m: Float32Array[]; v: Float32Array[] } | null;
  private readonly anchor: Float32Array[];
  private loss = 0;
  private hits = 0;

  constructor(
    private readonly addon: NativeAddon,
    private readonly model: tfl.LayersModel,
    private readonly stages: Stage[],
    private readonly config: LocalTrainingConfig,
    private readonly augmenter: Augmenter | undefined,
  ) {
    this.params = stages.flatMap((s) => s.params);
    this.inSize = stages[0].inSize;
    this.classes = stages[stages.length - 1].outSize;
    this.batch = { pixels: new Float32Array(config.batchSize * this.inSize), oneHot: new Float32Array(config.batchSize * this.classes) };
    this.dp = new Float32Array(config.batchSize * this.classes);
    const zeros = () => this.params.map((p) => new Float32Array(p.value.length));
    this.adam =
      config.optimizer === "adam"
        ? { schedule: new AdamSchedule(config.learningRate, 0.9, 0.999, tf.backend().epsilon()), m: zeros(), v: zeros() }
        : null;
    this.anchor = config.proximalMu > 0 ? this.params.map((p) => p.value.slice()) : [];
  }

  step(view: BatchView): void {
    const { data, order, start, end } = view;
    const n = end - start;
    const [h, w, c] = this.model.inputs[0].shape.slice(1);
    if (data.height !== h || data.width !== w || data.channels !== c || data.classNames.length !== this.classes || n > this.config.batchSize) {
      throw new Error(
        `cannot train: a batch of ${n} ${data.height}x${data.width}x${data.channels} images in ${data.classNames.length} classes ` +
          `does not fit the model (${h}x${w}x${c}, ${this.classes} classes, batches of at most ${this.config.batchSize})`,
      );
    }
    const { pixels, oneHot } = fillBatch(data, order, start, end, this.augmenter, this.batch);
    let a = pixels;
    for (const stage of this.stages) a = stage.forward(a, n);
    this.loss += crossEntropyOf(a, oneHot);
    this.hits += correctCountOf(a, oneHot, n, this.classes);
    // The loss is the batch's mean: the sum's gradient is 1/n (a float32 scalar in tfjs).
    let dy: Float32Array | null = this.dp.subarray(0, n * this.classes);
    crossEntropyGradOf(f(1 / n), a, oneHot, dy);
    for (let i = this.stages.length - 1; i >= 0 && dy !== null; i--) dy = this.stages[i].backward(dy, n);
    this.update();
  }

  /** The optimizer's step on every param, from the gradients the backward pass left in them. */
  private update(): void {
    const mu = this.config.proximalMu;
    const coefficients = this.adam?.schedule.next();
    const negLr = f(-this.config.learningRate);
    this.params.forEach(({ value, grad }, i) => {
      if (mu > 0) addProximalGradient(grad, value, this.anchor[i], mu);
      if (this.adam && coefficients) {
        this.addon.adamUpdate(value, grad, this.adam.m[i], this.adam.v[i], value, this.adam.m[i], this.adam.v[i], coefficients);
      } else {
        // tfjs's SGD: value + (−lr)·g.
        for (let j = 0; j < value.length; j++) value[j] = f(f(negLr * grad[j]) + value[j]);
      }
    });
  }

  takeTotals(): { loss: number; hits: number } {
    const totals = { loss: this.loss, hits: this.hits };
    this.loss = 0;
    this.hits = 0;
    return totals;
  }

  finish(): void {
    tf.tidy(() => {
      for (const p of this.params) p.variable.write(tf.tensor(p.value, p.variable.shape as number[], "float32"));
    });
  }

  dispose(): void {
    // Plain arrays only: nothing outside the garbage collector's reach.
  }
}

/**
 * FedProx's gradient (μ/2)·‖w − w₀‖² → μ/2 · 2(w − w₀), added to the loss's, with the float32 roundings
 * of tfjs's gradient of the proximal term.
 */
function addProximalGradient(grad: Float32Array, value: Float32Array, anchor: Float32Array, mu: number): void {
  const halfMu = f(mu / 2);
  for (let j = 0; j < grad.length; j++) grad[j] = f(grad[j] + f(halfMu * f(f(value[j] - anchor[j]) * 2)));
}
