/**
 * Benchmark 7, time to accuracy (full mode; quick mode runs a tiny version whose quality bars are not
 * judged). `fedfusion simulate --out DIR` with 10 clients, IID and dirichlet:0.5, for `cnn` and `fusion-s`;
 * metrics.json gives the central test accuracy after every round. A centralized baseline on the union of
 * the same data in the same invocation: `fedfusion train` when the command exists, else trainLocally +
 * evaluateModel here. Reports rounds and training time to 85% and 88%, and judges the quality bars:
 * centralized fusion-s ≥ 91%; federated IID within 1.5 points of centralized; dirichlet:0.5 ≥ 88%.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { formatNumber } from "./harness/markdown.js";
import { ROOT, lastLines, runChild, runCommand, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import type { BenchmarkOutput, Figure, Table, TargetInput } from "./harness/results.js";

const THRESHOLDS = [0.85, 0.88];

interface Plan {
  models: string[];
  partitions: string[];
  clients: number;
  rounds: Record<string, number>;
  /** Per-client cap on training examples. */
  samples: Record<string, number>;
  testSamples: number;
  seed: number;
  /** Centralized epochs = federated rounds × local epochs (1): the same passes over the same data. */
  timeoutMs: number;
}

const QUICK: Plan = { models: ["cnn"], partitions: ["iid", "dirichlet:0.5"], clients: 10, rounds: { cnn: 3 }, samples: { cnn: 200 }, testSamples: 2000, seed: 42, timeoutMs: 150_000 };
const FULL: Plan = {
  models: ["cnn", "fusion-s"],
  partitions: ["iid", "dirichlet:0.5"],
  clients: 10,
  rounds: { cnn: 20, "fusion-s": 15 },
  // All of Fashion-MNIST's 60k training images (10 × 6,000): one round = one pass, like one centralized epoch.
  samples: { cnn: 6000, "fusion-s": 6000 },
  testSamples: 10_000,
  seed: 42,
  timeoutMs: 6 * 3600_000,
};

interface RoundPoint {
  round: number;
  accuracy: number | null;
  durationMs: number;
}

interface RunSummary {
  kind: "federated" | "centralized";
  model: string;
  partition: string;
  points: RoundPoint[];
  final: number | null;
  wallMs: number;
  how: string;
  error?: string;
}

export function firstReaching(points: readonly RoundPoint[], threshold: number): { round: number; ms: number } | null {
  let ms = 0;
  for (const p of points) {
    ms += p.durationMs;
    if (p.accuracy !== null && p.accuracy >= threshold) return { round: p.round, ms };
  }
  return null;
}

export async function readMetrics(dir: string): Promise<{ points: RoundPoint[]; final: number | null; bytes: { up: number; down: number }[] }> {
  const doc = JSON.parse(await readFile(path.join(dir, "metrics.json"), "utf8")) as {
    rounds: { round: number; accuracy: number | null; durationMs: number; bytesUp: number; bytesDown: number }[];
    final: { accuracy: number | null } | null;
  };
  const points = doc.rounds.map((r) => ({ round: r.round, accuracy: r.accuracy, durationMs: r.durationMs }));
  return { points, final: doc.final?.accuracy ?? points.at(-1)?.accuracy ?? null, bytes: doc.rounds.map((r) => ({ up: r.bytesUp, down: r.bytesDown })) };
}

/** Fallback when `fedfusion train` does not exist: centralized training with trainLocally, one epoch at a time. */
export async function centralWorker(args: { model: string; epochs: number; samples: number; testSamples: number; seed: number }, io: ChildIO): Promise<{ points: RoundPoint[]; final: number | null }> {
  const { initBackend } = await import("../shared/backends/selectBackend.js");
  await initBackend("auto");
  const { fashionMnistSubset, shuffled } = await import("./harness/fixtures.js");
  const { subset } = await import("../shared/data/imageDataset.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { initialWeights, weightSpecs, writeWeights } = await import("../shared/model/weights.js");
  const { trainLocally } = await import("../client/training/localTrainer.js");
  const { evaluateModel } = await import("../shared/model/evaluate.js");
  const { train, test: fullTest } = await fashionMnistSubset(args.samples, args.seed);
  const test = args.testSamples < fullTest.count ? subset(fullTest, shuffled(fullTest.count, args.seed).subarray(0, args.testSamples)) : fullTest;
  const model = buildModel(resolveModelSpec(args.model, [train.height, train.width, train.channels], [...train.classNames]));
  writeWeights(model, initialWeights(weightSpecs(model), args.seed));
  const points: RoundPoint[] = [];
  for (let epoch = 1; epoch <= args.epochs; epoch++) {
    const t0 = Date.now();
    await trainLocally(model, train, { epochs: 1, batchSize: 32, learningRate: 0.001, optimizer: "adam", proximalMu: 0, seed: args.seed + epoch });
    const ev = await evaluateModel(model, test);
    points.push({ round: epoch, accuracy: ev.accuracy, durationMs: Date.now() - t0 });
    io.log(`centralized ${args.model} epoch ${epoch}: ${formatNumber(100 * ev.accuracy)}%`);
  }
  return { points, final: points.at(-1)?.accuracy ?? null };
}

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const plan = ctx.quick ? QUICK : FULL;
  const log = (l: string) => io.log(l);
  const runs: RunSummary[] = [];
  const haveTrain = existsSync(path.join(ROOT, "dist", "bin", "commands", "trainCommand.js"));
  for (const model of plan.models) {
    const rounds = plan.rounds[model];
    const samples = plan.samples[model];
    for (const partition of plan.partitions) {
      const out = path.join(ctx.tmpDir, `${model}-${partition.replace(/[^a-z0-9.]/gi, "_")}`);
      const args = ["simulate", "--model", model, "--clients", String(plan.clients), "--partition", partition, "--rounds", String(rounds), "--samples", String(samples), "--test-samples", String(plan.testSamples), "--seed", String(plan.seed), "--out", out];
      const res = await runCommand(args, { timeoutMs: plan.timeoutMs });
      const how = `fedfusion ${args.slice(0, -2).join(" ")}`;
      if (res.code !== 0) {
        runs.push({ kind: "federated", model, partition, points: [], final: null, wallMs: res.wallMs, how, error: `exit ${res.signal ?? res.code}${res.timedOut ? " (timed out)" : ""}: ${lastLines(res.output, 2)}` });
        continue;
      }
      const m = await readMetrics(out);
      runs.push({ kind: "federated", model, partition, ...m, wallMs: res.wallMs, how });
      log(`${model} ${partition}: final ${formatNumber(100 * (m.final ?? NaN))}% after ${rounds} rounds, ${formatNumber(res.wallMs / 1000)} s`);
    }
    // Centralized: the union of the clients' data (IID partition: every client's capped share), as many
    // passes as the federated runs make.
    const total = plan.clients * samples;
    if (haveTrain) {
      const out = path.join(ctx.tmpDir, `${model}-central`);
      const args = ["train", "--model", model, "--epochs", String(rounds), "--samples", String(total), "--test-samples", String(plan.testSamples), "--seed", String(plan.seed), "--out", out];
      const res = await runCommand(args, { timeoutMs: plan.timeoutMs });
      const how = `fedfusion ${args.slice(0, -2).join(" ")}`;
      if (res.code !== 0) runs.push({ kind: "centralized", model, partition: "-", points: [], final: null, wallMs: res.wallMs, how, error: `exit ${res.signal ?? res.code}: ${lastLines(res.output, 2)}` });
      else runs.push({ kind: "centralized", model, partition: "-", ...(await readMetrics(out)), wallMs: res.wallMs, how });
    } else {
      const how = `trainLocally + evaluateModel (bench/timeToAccuracy.ts centralWorker), ${rounds} epochs on ${total} examples`;
      try {
        const r = await runChild<{ points: RoundPoint[]; final: number | null }>("timeToAccuracy.js", "centralWorker", { model, epochs: rounds, samples: total, testSamples: plan.testSamples, seed: plan.seed }, { timeoutMs: plan.timeoutMs, log });
        runs.push({ kind: "centralized", model, partition: "-", ...r, wallMs: r.points.reduce((n, p) => n + p.durationMs, 0), how });
      } catch (e) {
        runs.push({ kind: "centralized", model, partition: "-", points: [], final: null, wallMs: 0, how, error: (e as Error).message.split("\n")[0] });
      }
    }
    const c = runs.at(-1)!;
    log(`${model} centralized: final ${formatNumber(100 * (c.final ?? NaN))}%`);
  }

  const pct = (x: number | null) => (x === null ? "n/a" : `${formatNumber(100 * x)}%`);
  const reach = (r: RunSummary, t: number) => {
    const hit = firstReaching(r.points, t);
    return hit ? `${r.kind === "centralized" ? "epoch" : "round"} ${hit.round}, ${formatNumber(hit.ms / 1000)} s` : r.error ? "—" : "not reached";
  };
  const tables: Table[] = [
    {
      title: `Time to accuracy (central test set${plan.testSamples < 10_000 ? `, ${plan.testSamples} images` : ""}); time = training time inside the rounds/epochs`,
      columns: ["model", "run", "final accuracy", ...THRESHOLDS.map((t) => `to ${t * 100}%`), "process wall time", "command"],
      rows: runs.map((r) => [r.model, r.kind === "centralized" ? "centralized" : `federated, ${r.partition}`, r.error ? `failed: ${r.error}` : pct(r.final), ...THRESHOLDS.map((t) => reach(r, t)), `${formatNumber(r.wallMs / 1000)} s`, `\`${r.how}\``]),
    },
  ];
  const figures: Figure[] = [];
  for (const r of runs.filter((x) => x.kind === "federated")) {
    const central = runs.find((x) => x.kind === "centralized" && x.model === r.model);
    figures.push({
      id: `tta.${r.model}.${r.partition}`,
      label: `${r.model}, federated ${r.partition}: final test accuracy`,
      value: r.final,
      unit: "%",
      baseline: { label: "centralized, same data and passes", value: central?.final ?? null, unit: "%" },
      ratio: r.final !== null && central?.final ? r.final / central.final : null,
    });
  }

  const notRun = ctx.quick ? "quick mode: a tiny run (10 × 200 examples, 3 rounds, cnn only), shown but not judged" : undefined;
  const targets: TargetInput[] = [];
  const finalOf = (model: string, kind: RunSummary["kind"], partition = "-") => runs.find((r) => r.model === model && r.kind === kind && r.partition === partition);
  const central = finalOf("fusion-s", "centralized");
  targets.push({
    id: "tta.central.fusion-s",
    description: "centralized fusion-s test accuracy",
    measured: central?.final ?? null,
    unit: "%",
    op: ">=",
    threshold: 0.91,
    notRun,
    unavailable: central?.error ?? "not measured",
    limitedBy: `${FULL.rounds["fusion-s"]} epochs on ${FULL.clients * FULL.samples["fusion-s"]} examples (the full suite's budget for fusion-s on CPU)`,
  });
  for (const model of FULL.models) {
    const c = finalOf(model, "centralized");
    const iid = finalOf(model, "federated", "iid");
    const dir = finalOf(model, "federated", "dirichlet:0.5");
    targets.push({
      id: `tta.${model}.iidGap`,
      description: `${model}: federated IID accuracy within 1.5 points of centralized`,
      measured: c?.final != null && iid?.final != null ? 100 * (c.final - iid.final) : null,
      unit: "points",
      op: "<=",
      threshold: 1.5,
      notRun,
      unavailable: iid?.error ?? c?.error ?? "not measured",
      limitedBy: iid && c ? `centralized ${pct(c.final)} vs federated IID ${pct(iid.final)} after the same number of passes over the same data (FedAvg of 10 clients, 1 local epoch per round)` : undefined,
    });
    targets.push({
      id: `tta.${model}.dirichlet`,
      description: `${model}: federated dirichlet:0.5 test accuracy`,
      measured: dir?.final ?? null,
      unit: "%",
      op: ">=",
      threshold: 0.88,
      notRun,
      unavailable: dir?.error ?? "not measured",
      limitedBy: dir ? `label skew (Dirichlet α = 0.5) slows FedAvg: ${pct(dir.final)} after ${FULL.rounds[model]} rounds (IID: ${pct(iid?.final ?? null)})` : undefined,
    });
  }
  const notes = [
    `Federated: \`fedfusion simulate\` (backend auto, FedAvg, Adam 0.001, batch 32, 1 local epoch per round), ${plan.clients} clients, per-client cap ${Object.entries(plan.samples).map(([m, n]) => `${m} ${n}`).join(", ")} training examples, ${Object.entries(plan.rounds).map(([m, n]) => `${m} ${n}`).join(", ")} rounds; accuracy from metrics.json (central evaluation after each round).`,
    `Centralized baseline: ${haveTrain ? "`fedfusion train`" : "trainLocally + evaluateModel (no `fedfusion train` command in this tree)"} on as many examples as all clients hold together, for as many epochs as there are rounds.`,
    ctx.quick ? "Quick mode: the quality bars are not judged (too little data and training)." : "Full mode runs take hours on a 2-core machine (fusion-s especially).",
    "Time to an accuracy = the sum of the round (epoch) durations up to the first one that reaches it: training, upload, aggregation and central evaluation, without process start-up and data loading (the process wall time is given separately).",
  ];
  return { figures, targets, tables, notes };
}
