/**
 * Local training on a site's shard: E epochs of minibatch steps in an order drawn from the round's seed,
 * optionally with FedProx's proximal term (μ/2)·‖w − w_global‖² that keeps non-IID sites near the global model.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { makeBatch } from "../../shared/data/batches.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { crossEntropySum } from "../../shared/model/evaluate.js";
import { permutation, Random } from "../../shared/random.js";

export interface LocalTrainingConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: "adam" | "sgd";
  proximalMu: number;
  seed: number;
}

export interface LocalTrainingResult {
  /** Mean training loss and accuracy over the last epoch. */
  loss: number;
  accuracy: number;
  steps: number;
  examples: number;
  millis: number;
}

/** Keeps the event loop (gRPC keepalives, signals) served during long CPU-bound training. */
const YIELD_EVERY_MS = 100;

export async function trainLocally(model: tfl.LayersModel, data: ImageDataset, config: LocalTrainingConfig): Promise<LocalTrainingResult> {
  const started = Date.now();
  if (data.count === 0) throw new Error("cannot train on an empty shard");
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = config.optimizer === "sgd" ? tf.train.sgd(config.learningRate) : tf.train.adam(config.learningRate);
  // The starting point is the global model: FedProx pulls towards it.
  const anchor = config.proximalMu > 0 ? vars.map((v) => tf.keep(v.clone())) : [];
  const rng = new Random(config.seed);
  let steps = 0;
  let lastYield = Date.now();
  let epochLoss = 0;
  let epochHits = 0;
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const order = permutation(data.count, rng);
      const losses: tf.Scalar[] = [];
      const hits: tf.Scalar[] = [];
      for (let start = 0; start < data.count; start += config.batchSize) {
        const end = Math.min(start + config.batchSize, data.count);
        tf.tidy(() => {
          const { x, y } = makeBatch(data, order, start, end);
          const cost = optimizer.minimize(
            () => {
              const p = model.apply(x, { training: true }) as tf.Tensor2D;
              hits.push(tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), tf.argMax(y, 1)), "float32"))));
              const ce = crossEntropySum(y, p);
              losses.push(tf.keep(ce));
              const mean = tf.div(ce, end - start) as tf.Scalar;
              return config.proximalMu > 0 ? tf.add(mean, proximalTerm(vars, anchor, config.proximalMu)) : mean;
            },
            false,
            vars,
          );
          cost?.dispose();
        });
        steps++;
        if (Date.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((r) => setImmediate(r));
          lastYield = Date.now();
        }
      }
      epochLoss = sumAndDispose(losses) / data.count;
      epochHits = sumAndDispose(hits);
    }
  } finally {
    optimizer.dispose();
    anchor.forEach((t) => t.dispose());
  }
  return { loss: epochLoss, accuracy: epochHits / data.count, steps, examples: data.count, millis: Date.now() - started };
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
