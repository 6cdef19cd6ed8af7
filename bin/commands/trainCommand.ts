import path from "node:path";
import { resolveDataset } from "../../client/data/resolveDataset.js";
import { trainLocally } from "../../client/training/localTrainer.js";
import { writeMetrics, type MetricsDocument } from "../../coordinator/metricsFile.js";
import { describeBackend, initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import { sampleOf } from "../../shared/data/imageDataset.js";
import { createLogger } from "../../shared/logging.js";
import { buildModel } from "../../shared/model/architectures.js";
import { evaluateModel } from "../../shared/model/evaluate.js";
import { parseSchedule, scheduledRate } from "../../shared/model/learningRateSchedule.js";
import { ARCHITECTURES, resolveModelSpec } from "../../shared/model/modelSpec.js";
import { saveModel } from "../../shared/model/modelStore.js";
import { initialWeights, weightSpecs, writeWeights } from "../../shared/model/weights.js";
import { Random } from "../../shared/random.js";
import { fusionKnobOptions, fusionKnobs } from "../modelOptions.js";
import { parseCommand } from "../cliOptions.js";
import { backendOption, lrScheduleOption } from "../commonOptions.js";

const spec = {
  name: "train",
  summary: "train centrally on the whole dataset: the baseline federated runs are compared with",
  options: {
    dataset: { kind: "string", default: "fashion-mnist", meta: "fashion-mnist|mnist|DIR", help: "training data (and its test split)" },
    model: { kind: "string", choices: ARCHITECTURES, default: "cnn", help: "model architecture" },
    epochs: { kind: "int", min: 1, max: 10000, default: 5, help: "epochs over the training data" },
    "batch-size": { kind: "int", min: 1, max: 65536, default: 32, help: "minibatch size" },
    lr: { kind: "number", min: 0, max: 10, default: 0.001, help: "learning rate" },
    ...lrScheduleOption,
    optimizer: { kind: "string", choices: ["adam", "sgd"], default: "adam", help: "optimizer" },
    samples: { kind: "int", min: 1, help: "cap on training examples (default: all)" },
    "test-samples": { kind: "int", min: 0, help: "cap on test examples (default: all)" },
    seed: { kind: "int", min: 0, max: 2 ** 32 - 1, default: 42, help: "seed for initial weights and shuffling" },
    out: { kind: "string", meta: "DIR", help: "write metrics.json and the model here" },
    ...fusionKnobOptions,
    ...backendOption,
  },
} as const;

export async function trainCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const schedule = parseSchedule(o["lr-schedule"], o.lr);
  const log = createLogger("train");
  const started = Date.now();
  const backend = await initBackend(parseBackendChoice(o.backend));
  log(describeBackend(backend));
  const data = await resolveDataset(o.dataset, { warn: (m) => log(`warning: ${m}`) });
  const rng = new Random(o.seed);
  const train = sampleOf(data.train, o.samples, rng);
  const test = data.test ? sampleOf(data.test, o["test-samples"], rng) : undefined;
  const modelSpec = resolveModelSpec(o.model, [train.height, train.width, train.channels], [...train.classNames], fusionKnobs(o));
  const model = buildModel(modelSpec);
  writeWeights(model, initialWeights(weightSpecs(model), o.seed));
  log(`training ${o.model} on ${train.count} examples${test ? `, testing on ${test.count}` : ""}`);

  const doc: MetricsDocument = { config: { command: "train", ...o, backend: backend.name, modelSpec }, rounds: [], final: null };
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = Date.now();
    const r = await trainLocally(model, train, {
      epochs: 1,
      batchSize: o["batch-size"],
      learningRate: scheduledRate(o.lr, schedule, epoch, o.epochs),
      optimizer: o.optimizer as "adam" | "sgd",
      proximalMu: 0,
      seed: (o.seed * 1_000_003 + epoch) >>> 0,
    });
    const ev = test ? await evaluateModel(model, test) : null;
    // One "round" per epoch, so centralized and federated runs share the metrics.json layout.
    doc.rounds.push({
      round: epoch,
      modelVersion: epoch,
      accuracy: ev?.accuracy ?? null,
      loss: ev?.loss ?? null,
      clients: 1,
      selected: 1,
      rejected: {},
      federatedEvaluation: null,
      trainLoss: r.loss,
      trainAccuracy: r.accuracy,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: Date.now() - t0,
    });
    const acc = ev ? `accuracy ${(100 * ev.accuracy).toFixed(2)}%  loss ${ev.loss.toFixed(4)}  ` : "";
    log(`epoch ${epoch}/${o.epochs}  ${acc}train-loss ${r.loss.toFixed(4)}  ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    if (o.out) await writeMetrics(o.out, doc);
  }
  const last = doc.rounds.at(-1)!;
  doc.final = { accuracy: last.accuracy, loss: last.loss, modelVersion: o.epochs };
  if (o.out) {
    await writeMetrics(o.out, doc);
    await saveModel(model, path.join(o.out, "model"), { spec: modelSpec, modelVersion: o.epochs });
    log(`wrote ${path.join(o.out, "metrics.json")} and ${path.join(o.out, "model")}/`);
  }
  const acc = last.accuracy;
  process.stdout.write(
    `final test accuracy: ${acc === null ? "n/a (no test set)" : (100 * acc).toFixed(2) + "%"} (${o.model}, centralized, ${o.epochs} epochs, ${((Date.now() - started) / 1000).toFixed(1)}s)\n`,
  );
}
