/**
 * Minibatch steps through tfjs: the model's forward pass (conv blocks fused where the backend has the
 * kernels, fusedForward.ts), the loss, its gradient by tfjs's tape and the optimizer, on whatever backend
 * is active. FedProx's proximal term (μ/2)·‖w − w_global‖² is added to the loss.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { Augmenter } from "../../shared/data/augment.js";
import { makeBatch } from "../../shared/data/batches.js";
import type { BatchView } from "../../shared/data/trainingSource.js";
import { correctCount, crossEntropySum } from "../../shared/model/evaluate.js";
import { fusedForward } from "../../shared/model/fusedForward.js";
import type { LocalTrainingConfig } from "./localTrainer.js";
import { createOptimizer } from "./optimizers.js";
import type { StepRunner } from "./stepRunner.js";

export class TfjsStepRunner implements StepRunner {
  readonly kind = "tfjs";
  private readonly vars: tf.Variable[];
  private readonly optimizer: tf.Optimizer;
  /** The starting point, the global model, which FedProx pulls towards. */
  private readonly anchor: tf.Tensor[];
  // Kept as tensors until takeTotals: reading each step's scalars would wait for every step (on a GPU).
  private losses: tf.Scalar[] = [];
  private hits: tf.Scalar[] = [];

  constructor(
    private readonly model: tfl.LayersModel,
    private readonly config: LocalTrainingConfig,
    private readonly augmenter: Augmenter | undefined,
  ) {
    this.vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    this.optimizer = createOptimizer(config.optimizer, config.learningRate);
    this.anchor = config.proximalMu > 0 ? this.vars.map((v) => tf.keep(v.clone())) : [];
  }

  step(batch: BatchView): void {
    const n = batch.end - batch.start;
    const mu = this.config.proximalMu;
    tf.tidy(() => {
      const { x, y } = makeBatch(batch.data, batch.order, batch.start, batch.end, this.augmenter);
      const cost = this.optimizer.minimize(
        () => {
          const p = fusedForward(this.model, x, true) as tf.Tensor2D;
          this.hits.push(tf.keep(correctCount(y, p)));
          const ce = crossEntropySum(y, p);
          this.losses.push(tf.keep(ce));
          const mean = tf.div(ce, n) as tf.Scalar;
          return mu > 0 ? tf.add(mean, proximalTerm(this.vars, this.anchor, mu)) : mean;
        },
        false,
        this.vars,
      );
      cost?.dispose();
    });
  }

  takeTotals(): { loss: number; hits: number } {
    const loss = sumAndDispose(this.losses);
    const hits = sumAndDispose(this.hits);
    this.losses = [];
    this.hits = [];
    return { loss, hits };
  }

  finish(): void {
    // The optimizer updated the model's variables in place.
  }

  dispose(): void {
    // Scalars of steps not yet totalled (a failed epoch): freed, not read back.
    tf.dispose([...this.losses, ...this.hits]);
    this.losses = [];
    this.hits = [];
    this.optimizer.dispose();
    this.anchor.forEach((t) => t.dispose());
  }
}

function proximalTerm(vars: tf.Variable[], anchor: tf.Tensor[], mu: number): tf.Scalar {
  const squares = vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchor[i]))));
  return tf.mul(mu / 2, tf.addN(squares)) as tf.Scalar;
}

function sumAndDispose(scalars: tf.Scalar[]): number {
  let s = 0;
  for (const t of scalars) {
    s += t.dataSync()[0];
    t.dispose();
  }
  return s;
}
