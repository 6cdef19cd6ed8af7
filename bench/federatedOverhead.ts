/**
 * Benchmark 2, federated overhead. A site's local training through the federated path —
 * `SiteTrainer.train`: write the global weights, `trainLocally`, read the weights back and subtract (the
 * delta) — against plain `model.fit` of the same architecture on the same examples, backend, batch size,
 * optimizer and epochs. Target: the federated path costs ≤ 5% more.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import type { ImageDataset } from "../shared/data/imageDataset.js";
import { fashionMnistSubset } from "./harness/fixtures.js";
import { formatNumber } from "./harness/markdown.js";
import { runChild, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type TargetInput } from "./harness/results.js";
import { describeSample, measure, measureInterleaved, type Sample } from "./harness/timing.js";

interface ModelOverhead {
  model: string;
  examples: number;
  federated: Sample;
  plain: Sample;
  setWeights: Sample;
  delta: Sample;
  /** The part of `plain` spent turning the examples into tensors. */
  tensorPrep: Sample;
}

interface WorkerResult {
  backend: string;
  detail: string;
  models: ModelOverhead[];
}

const BATCH = 32;

/** All examples as one [n, h, w, c] tensor scaled to [0, 1] and one-hot labels, as makeBatch does per batch. */
function wholeDataset(tf: typeof tfc, d: ImageDataset): { x: tfc.Tensor4D; y: tfc.Tensor2D } {
  const pixels = new Float32Array(d.images.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = d.images[i] / 255;
  return tf.tidy(() => ({
    x: tf.tensor4d(pixels, [d.count, d.height, d.width, d.channels]),
    y: tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(d.labels.subarray(0, d.count)), "int32"), d.classNames.length), "float32") as tfc.Tensor2D,
  }));
}

export async function overheadWorker(args: { models: { name: string; examples: number }[]; repeats: number }, io: ChildIO): Promise<WorkerResult> {
  const { initBackend } = await import("../shared/backends/selectBackend.js");
  const sel = await initBackend("auto");
  const tf = await import("@tensorflow/tfjs-core");
  const { SiteTrainer } = await import("../client/training/siteTrainer.js");
  const { createOptimizer } = await import("../client/training/optimizers.js");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { initialWeights, readWeights, subtractLayers, writeWeights } = await import("../shared/model/weights.js");
  const out: WorkerResult = { backend: sel.name, detail: sel.detail, models: [] };
  const maxExamples = Math.max(...args.models.map((m) => m.examples));
  const { train } = await fashionMnistSubset(maxExamples);
  const { subset } = await import("../shared/data/imageDataset.js");

  for (const { name, examples } of args.models) {
    const data = subset(train, Uint32Array.from({ length: examples }, (_, i) => i));
    const spec = resolveModelSpec(name, [data.height, data.width, data.channels], [...data.classNames]);
    const trainer = new SiteTrainer(spec);
    const global = initialWeights(trainer.specs, 42);
    const plain: tfl.LayersModel = buildModel(spec);
    const cfg = { epochs: 1, batchSize: BATCH, learningRate: 0.001, optimizer: "adam" as const, proximalMu: 0, seed: 11, federate: "all" as const };

    const federated = async () => {
      await trainer.train(global, data, cfg);
    };
    const fit = async () => {
      const { x, y } = wholeDataset(tf, data);
      await plain.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: true, verbose: 0 });
      x.dispose();
      y.dispose();
    };
    // Untimed before each plain run: the same starting weights and a fresh optimizer, as the federated path has.
    const resetPlain = () => {
      writeWeights(plain, global);
      plain.optimizer?.dispose();
      // The optimizer the federated path trains with (its fused Adam where the backend has it).
      plain.compile({ optimizer: createOptimizer(cfg.optimizer, cfg.learningRate), loss: "categoricalCrossentropy", metrics: ["accuracy"] });
    };
    const both = await measureInterleaved({ federated, plain: fit }, { warmup: 1, repeats: args.repeats, before: (k) => (k === "plain" ? resetPlain() : undefined) });
    const setWeights = await measure(() => writeWeights(trainer.model, global), { warmup: 2, repeats: 9 });
    const delta = await measure(() => subtractLayers(readWeights(trainer.model), global), { warmup: 2, repeats: 9 });
    const tensorPrep = await measure(() => {
      const { x, y } = wholeDataset(tf, data);
      x.dispose();
      y.dispose();
    }, { warmup: 1, repeats: 5 });
    out.models.push({ model: name, examples, federated: both.federated, plain: both.plain, setWeights, delta, tensorPrep });
    io.log(`${name}: federated ${formatNumber(both.federated.cpu.median)} ms vs model.fit ${formatNumber(both.plain.cpu.median)} ms (CPU)`);
    plain.dispose();
  }
  return out;
}

export function explainOverhead(m: ModelOverhead): string {
  const plain = m.plain.cpu.median;
  const pct = (ms: number) => `${formatNumber((100 * ms) / plain)}%`;
  const wrap = m.setWeights.cpu.median + m.delta.cpu.median;
  const training = m.federated.cpu.median - wrap;
  return (
    `setting the global weights (${formatNumber(m.setWeights.cpu.median)} ms) and computing the delta (${formatNumber(m.delta.cpu.median)} ms) add ${pct(wrap)}; ` +
    `the rest is trainLocally itself: ${formatNumber(training)} ms vs model.fit's ${formatNumber(plain)} ms (${pct(training - plain)}; ` +
    `it differs from fit in converting each batch from bytes, keeping per-batch loss/accuracy tensors read at the epoch's end, and a fresh Adam per round); ` +
    `spread of the runs: federated ${formatNumber(m.federated.cpu.min)}–${formatNumber(m.federated.cpu.max)} ms, fit ${formatNumber(m.plain.cpu.min)}–${formatNumber(m.plain.cpu.max)} ms`
  );
}

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const models = q ? [{ name: "cnn", examples: 1024 }, { name: "fusion-s", examples: 256 }] : [{ name: "cnn", examples: 4096 }, { name: "fusion-s", examples: 1024 }];
  const r = await runChild<WorkerResult>("federatedOverhead.js", "overheadWorker", { models, repeats: q ? 4 : 7 }, { timeoutMs: q ? 150_000 : 1_500_000, log: (l) => io.log(l) });
  const figures: Figure[] = [];
  const targets: TargetInput[] = [];
  for (const m of r.models) {
    const cpu = (x: Sample) => x.cpu.median;
    const plain = cpu(m.plain);
    const over = ratio(cpu(m.federated), plain);
    const fit = { label: "model.fit", value: plain, unit: "ms" };
    figures.push({
      id: `${m.model}.federated`,
      label: `${m.model}: SiteTrainer.train (set weights, trainLocally, delta), ${m.examples} examples, 1 epoch`,
      value: cpu(m.federated),
      unit: "ms",
      baseline: { label: "model.fit, same data/backend/batch/optimizer", value: plain, unit: "ms" },
      ratio: over,
      detail: `federated ${describeSample(m.federated, "cpu")}; fit ${describeSample(m.plain, "cpu")}`,
    });
    figures.push({ id: `${m.model}.setWeights`, label: `${m.model}: writeWeights (global → model)`, value: cpu(m.setWeights), unit: "ms", baseline: fit, ratio: ratio(cpu(m.setWeights), plain) });
    figures.push({ id: `${m.model}.delta`, label: `${m.model}: readWeights + subtractLayers (the delta)`, value: cpu(m.delta), unit: "ms", baseline: fit, ratio: ratio(cpu(m.delta), plain) });
    figures.push({ id: `${m.model}.prep`, label: `${m.model}: building model.fit's input tensors (inside its time)`, value: cpu(m.tensorPrep), unit: "ms", baseline: fit, ratio: ratio(cpu(m.tensorPrep), plain) });
    targets.push({
      id: `overhead.${m.model}`,
      description: `${m.model}: federated path overhead over model.fit (backend ${r.backend})`,
      measured: over === null ? null : over - 1,
      unit: "%",
      op: "<=",
      threshold: 0.05,
      limitedBy: explainOverhead(m),
    });
  }
  const notes = [
    `Backend: ${r.backend} (${r.detail}), in one process for both paths.`,
    "Federated: `SiteTrainer.train(global, data, config)` (client/training/siteTrainer.ts) — writeWeights, trainLocally (1 epoch, batch 32, Adam 0.001, seeded shuffle), readWeights and subtractLayers.",
    "Plain: `model.fit(x, y, {epochs: 1, batchSize: 32, shuffle: true})` on a model of the same architecture compiled with Adam 0.001 and categorical cross-entropy (+ accuracy, as trainLocally reports it); its time includes building x and y from the same bytes (trainLocally converts per batch). Before each plain run (untimed) the same starting weights are written and a fresh optimizer compiled, as every federated round starts fresh.",
    "trainLocally is faster than model.fit where it runs a model's conv blocks as fused kernels (shared/model/fusedForward.ts) or whole steps as native calls (client/training/nativeChainTrainer.ts: `cnn` on the native path and on plain wasm), so the overhead comes out negative; the federated path's own costs are the writeWeights and readWeights + subtractLayers figures.",
    "The two paths are timed interleaved (A B, B A, …) after a warm-up of each; figures are medians of the process's CPU time (single-threaded work on a shared machine: wall time would also count waiting for a core; the details give wall medians too). Overhead = federated / plain − 1 (negative: the federated path is faster).",
  ];
  return { figures, targets, notes };
}
