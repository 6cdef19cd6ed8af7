/**
 * Local training on a site's shard: E epochs of minibatch steps in an order drawn from the round's seed,
 * optionally with FedProx's proximal term (μ/2)·‖w − w_global‖² that keeps non-IID sites near the global model,
 * and optionally with random flips and padded crops of the training images (never of validation ones).
 *
 * The shard is an in-memory ImageDataset or any TrainingSource (e.g. a folder streamed batch by batch); the
 * order, the augmentation draws and so the result depend only on the seed and the examples, not on which.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import { augmentActive, Augmenter, type AugmentConfig } from "../../shared/data/augment.js";
import { identityOrder } from "../../shared/data/batches.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { isTrainingSource, toTrainingSource, type TrainingSource } from "../../shared/data/trainingSource.js";
import { batchEvaluator, evaluateModel, type Evaluation } from "../../shared/model/evaluate.js";
import { permutation, Random } from "../../shared/random.js";
import { nativeChainTrainer } from "./nativeChainTrainer.js";
import type { StepRunner } from "./stepRunner.js";
import { TfjsStepRunner } from "./tfjsStepRunner.js";

export type { AugmentConfig } from "../../shared/data/augment.js";

export interface LocalTrainingConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: "adam" | "sgd";
  proximalMu: number;
  seed: number;
  /** Random horizontal flip and/or padded random crop of training images, drawn from `seed`. Default off. */
  augment?: AugmentConfig;
}

export interface LocalTrainingResult {
  /** Mean training loss and accuracy over the last epoch. */
  loss: number;
  accuracy: number;
  steps: number;
  /** Examples trained on in the last epoch (fewer than the shard's count if files turned out unreadable). */
  examples: number;
  millis: number;
  /** How the steps ran: whole steps in the native addon or the WebAssembly SIMD kernels, or through tfjs. */
  runner: StepRunner["kind"];
}

export interface LocalTrainingOptions {
  /**
   * "auto" (default): the whole-model step (nativeChainTrainer.ts) where the native path or plain wasm is
   * active and the model is a chain it runs, else tfjs. "tfjs": always through tfjs (for comparisons).
   */
  runner?: "auto" | "tfjs";
}

/** Keeps the event loop (gRPC keepalives, signals) served during long CPU-bound training. */
const YIELD_EVERY_MS = 100;
/** Salt of the augmentation's random stream, so it is independent of the shuffling's. */
const AUGMENT_STREAM = 0xa09;

export async function trainLocally(
  model: tfl.LayersModel,
  data: ImageDataset | TrainingSource,
  config: LocalTrainingConfig,
  options: LocalTrainingOptions = {},
): Promise<LocalTrainingResult> {
  const started = Date.now();
  const source = toTrainingSource(data);
  if (source.count === 0) throw new Error("cannot train on an empty shard");
  // Validated before anything is allocated that would need disposing.
  const augmenter = augmentActive(config.augment) ? new Augmenter(config.augment, new Random(config.seed).fork(AUGMENT_STREAM)) : undefined;
  const runner =
    (options.runner !== "tfjs" ? nativeChainTrainer(model, config, augmenter) : null) ?? new TfjsStepRunner(model, config, augmenter);
  const rng = new Random(config.seed);
  let steps = 0;
  let lastYield = Date.now();
  let epochLoss = 0;
  let epochHits = 0;
  let epochExamples = 0;
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const order = permutation(source.count, rng);
      let seen = 0;
      for await (const batch of source.batches(order, config.batchSize)) {
        const n = batch.end - batch.start;
        if (n === 0) continue; // every file of the batch was unreadable
        runner.step(batch);
        seen += n;
        steps++;
        if (Date.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((r) => setImmediate(r));
          lastYield = Date.now();
        }
      }
      ({ loss: epochLoss, hits: epochHits } = runner.takeTotals());
      if (seen === 0) throw new Error("cannot train: no example of the shard could be read");
      epochExamples = seen;
      epochLoss /= seen;
    }
    runner.finish();
  } finally {
    runner.dispose();
  }
  return { loss: epochLoss, accuracy: epochHits / epochExamples, steps, examples: epochExamples, millis: Date.now() - started, runner: runner.kind };
}

/**
 * Mean categorical cross-entropy and accuracy over a whole dataset or source (e.g. the validation split),
 * never augmented. An in-memory dataset gives exactly evaluateModel's result; a streaming source is read
 * batch by batch in order, with the same arithmetic.
 */
export async function evaluateLocally(
  model: tfl.LayersModel,
  data: ImageDataset | TrainingSource,
  batchSize = 256,
): Promise<Evaluation> {
  if (!isTrainingSource(data)) return evaluateModel(model, data, batchSize);
  if ("dataset" in data && !data.streaming) return evaluateModel(model, (data as { dataset: ImageDataset }).dataset, batchSize);
  let lossSum = 0;
  let correct = 0;
  let examples = 0;
  const evaluate = batchEvaluator(model, Math.min(batchSize, data.count));
  for await (const batch of data.batches(identityOrder(data.count), batchSize)) {
    if (batch.end === batch.start) continue;
    const [l, c] = evaluate(batch.data, batch.order, batch.start, batch.end);
    lossSum += l;
    correct += c;
    examples += batch.end - batch.start;
  }
  if (examples === 0) return { loss: NaN, accuracy: NaN, examples: 0 };
  return { loss: lossSum / examples, accuracy: correct / examples, examples };
}
