/**
 * A whole training step — forward pass, loss, backward pass, optimizer — with no tfjs kernel in it, for the
 * chain models shared/model/nativeChain.ts runs (`cnn`, `large`) with the native addon or, on the wasm
 * fallback, the SIMD kernels. Through tfjs such a step is ~55 kernel calls (`cnn`), and tfjs's per-call work
 * (the tape, tensor bookkeeping, the optimizer's variables) cost more than the arithmetic of so small a
 * model: even with instant kernels `cnn` could not reach a quarter of the machine's sgemm speed. Here a step
 * is a dozen kernel calls.
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
import type { Augmenter } from "../../shared/data/augment.js";
import type { BatchView } from "../../shared/data/trainingSource.js";
import { nativeChain, nativeForward, type NativeChain } from "../../shared/model/nativeChain.js";
import type { LocalTrainingConfig } from "./localTrainer.js";
import type { StepRunner } from "./stepRunner.js";

const f = Math.fround;

/** The chain runner for this model and config, or null when no chain kernels apply or the model is not such a chain. */
export function nativeChainTrainer(model: tfl.LayersModel, config: LocalTrainingConfig, augmenter: Augmenter | undefined): StepRunner | null {
  const chain = nativeChain(model, config.batchSize, true);
  return chain === null ? null : new NativeChainTrainer(chain, config, augmenter);
}

class NativeChainTrainer implements StepRunner {
  private readonly dp: Float32Array;
  private readonly adam: { schedule: AdamSchedule; m: Float32Array[]; v: Float32Array[] } | null;
  private readonly anchor: Float32Array[];
  private loss = 0;
  private hits = 0;

  constructor(
    private readonly chain: NativeChain,
    private readonly config: LocalTrainingConfig,
    private readonly augmenter: Augmenter | undefined,
  ) {
    this.dp = chain.kernels.float32(config.batchSize * chain.classes);
    const zeros = () => chain.params.map((p) => chain.kernels.float32(p.value.length));
    this.adam =
      config.optimizer === "adam"
        ? { schedule: new AdamSchedule(config.learningRate), m: zeros(), v: zeros() }
        : null;
    this.anchor = config.proximalMu > 0 ? chain.params.map((p) => p.value.slice()) : [];
  }

  get kind(): "native" | "simd" {
    return this.chain.kernels.kind;
  }

  step(view: BatchView): void {
    const { data, order, start, end } = view;
    const n = end - start;
    const { p, oneHot } = nativeForward(this.chain, data, order, start, end, "cannot train", this.augmenter);
    this.loss += crossEntropyOf(p, oneHot);
    this.hits += correctCountOf(p, oneHot, n, this.chain.classes);
    // The loss is the batch's mean: the sum's gradient is 1/n (a float32 scalar in tfjs).
    let dy: Float32Array | null = this.dp.subarray(0, n * this.chain.classes);
    crossEntropyGradOf(f(1 / n), p, oneHot, dy);
    const stages = this.chain.stages;
    for (let i = stages.length - 1; i >= 0 && dy !== null; i--) dy = stages[i].backward(dy, n);
    this.update();
  }

  /** The optimizer's step on every param, from the gradients the backward pass left in them. */
  private update(): void {
    const mu = this.config.proximalMu;
    const coefficients = this.adam?.schedule.next();
    const negLr = f(-this.config.learningRate);
    this.chain.params.forEach(({ value, grad }, i) => {
      if (mu > 0) addProximalGradient(grad, value, this.anchor[i], mu);
      if (this.adam && coefficients) {
        this.chain.kernels.adamUpdate(value, grad, this.adam.m[i], this.adam.v[i], value, this.adam.m[i], this.adam.v[i], coefficients);
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
      for (const p of this.chain.params) p.variable.write(tf.tensor(p.value, p.variable.shape as number[], "float32"));
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
