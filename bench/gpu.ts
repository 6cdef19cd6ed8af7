/**
 * Benchmark: the `cuda` backend (shared/backends/native/cudaGemm.ts) — the native kernels with every
 * matrix product of at least the routing threshold done by cuBLAS on an NVIDIA GPU. Runs only where the
 * CUDA runtime, cuBLAS and a device are found; elsewhere (CI, this project's VMs) its note says why not.
 *
 * In the same run, on the same machine:
 * - products: the addon's sgemm on one CPU thread, on every core (OpenBLAS threads), and routed to the GPU
 *   (copies to the GPU and back included: tensors live in host memory), square and the shapes of the
 *   fusion models' layers; where the GPU starts to beat one core sizes the threshold;
 * - numerics: GPU against OpenBLAS for every transpose, the worst difference relative to the result's scale;
 * - training: trainLocally (what a site runs) on `native` with one OpenBLAS thread, `native` with one per
 *   core, and `cuda`, per model — one process switching between them (routing on or off, OpenBLAS's
 *   thread count) run by run, interleaved; examples per second (wall clock: GPU time is not this
 *   process's CPU time) and the share of the step's product FLOPs that went to the GPU. Synthetic 28×28 images: the speed of
 *   a step does not depend on the pixel values.
 */
import { Random } from "../shared/random.js";
import { formatNumber } from "./harness/markdown.js";
import { runChild, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type Table, type TargetInput } from "./harness/results.js";
import { measure, measureInterleaved, repeatsFor, timeOnce } from "./harness/timing.js";

const MODELS = ["cnn", "fusion-s", "fusion-m", "fusion-l"] as const;
const BATCH = 32;
/** [M, N, K] of a fusion-l step's products at batch 32 (49 tokens per image): QKV, attention out, MLP up and down, the stem's second conv (im2col tile). */
const MODEL_SHAPES: [number, number, number][] = [[1568, 768, 256], [1568, 256, 256], [1568, 1024, 256], [1568, 256, 1024], [910, 128, 576]];

// ---------------------------------------------------------------------------------------------
// products (child)

interface GemmPoint {
  shape: [number, number, number];
  mflop: number;
  /** GFLOP/s: one CPU thread, every core, GPU (copies included). */
  cpu1: number;
  cpuAll: number;
  gpu: number;
}

type GemmResult =
  | { ok: true; detail: string; cores: number; worstError: number; errorDetail: string; points: GemmPoint[] }
  | { ok: false; reason: string };

/** `n` seeded values in [-0.5, 0.5). */
function pattern(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.next() - 0.5);
}

const CLASS_NAMES = Array.from({ length: 10 }, (_, i) => String(i));

/** `count` synthetic 28×28 grey images (pattern bytes from `seed`) labelled 0..9 in turn; `first(n)` views the first n. */
function syntheticImages(count: number, seed: number) {
  const images = Uint8Array.from(pattern(count * 784, seed), (v) => Math.floor((v + 0.5) * 256));
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return (n = count) => ({ images: images.subarray(0, n * 784), labels: labels.subarray(0, n), count: n, height: 28, width: 28, channels: 1, classNames: CLASS_NAMES });
}

export async function gemmWorker(args: { squares: number[]; cores: number; budgetMs: number }, io: ChildIO): Promise<GemmResult> {
  const { loadNativeAddon } = await import("../shared/backends/native/nativeAddon.js");
  const { routeGemmsToCuda } = await import("../shared/backends/native/cudaGemm.js");
  const load = loadNativeAddon();
  if (!load.ok) return { ok: false, reason: load.reason };
  const { addon } = load;
  const routed = routeGemmsToCuda(addon);
  if (!routed.ok) return { ok: false, reason: routed.reason };
  addon.cudaRoute(0);

  // Numerics: every transpose, at an odd shape and at a model's shape.
  let worstError = 0;
  const errors: string[] = [];
  for (const [M, N, K] of [[257, 131, 513], [1568, 1024, 256]] as const) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const A = pattern(M * K, 1), B = pattern(K * N, 2);
        const run = (minFlops: number) => {
          const C = new Float32Array(M * N);
          addon.cudaRoute(minFlops);
          addon.sgemm(ta, tb, M, N, K, 1, A, ta ? M : K, B, tb ? K : N, 0, C, N);
          addon.cudaRoute(0);
          return C;
        };
        const cpu = run(0), gpu = run(1);
        let scale = 0, diff = 0;
        for (let i = 0; i < cpu.length; i++) {
          scale = Math.max(scale, Math.abs(cpu[i]!));
          diff = Math.max(diff, Math.abs(gpu[i]! - cpu[i]!));
        }
        const err = diff / scale;
        worstError = Math.max(worstError, err);
        errors.push(`${M}×${N}×${K}${ta ? " Aᵀ" : ""}${tb ? " Bᵀ" : ""}: ${err.toExponential(1)}`);
      }
    }
  }
  const stats = addon.cudaStats(true);
  if (stats.failures > 0) return { ok: false, reason: `products failed on the GPU: ${stats.lastError}` };
  io.log(`cuda: worst relative difference from OpenBLAS ${worstError.toExponential(2)}`);

  const points: GemmPoint[] = [];
  const shapes: [number, number, number][] = [...args.squares.map((n): [number, number, number] => [n, n, n]), ...MODEL_SHAPES];
  for (const shape of shapes) {
    const [M, N, K] = shape;
    const A = pattern(M * K, 3), B = pattern(K * N, 4), C = new Float32Array(M * N);
    const flops = 2 * M * N * K;
    const rate = async (threads: number, minFlops: number) => {
      addon.setNumThreads(threads);
      addon.cudaRoute(minFlops);
      const f = () => addon.sgemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N);
      const one = await timeOnce(f);
      const s = await measure(f, { warmup: 1, repeats: repeatsFor(args.budgetMs, one, 3, 50) });
      addon.cudaRoute(0);
      return flops / s.min / 1e6;
    };
    const point = { shape, mflop: flops / 1e6, cpu1: await rate(1, 0), cpuAll: await rate(args.cores, 0), gpu: await rate(1, 1) };
    points.push(point);
    io.log(`sgemm ${M}×${N}×${K}: CPU 1 thread ${formatNumber(point.cpu1)}, ${args.cores} threads ${formatNumber(point.cpuAll)}, GPU ${formatNumber(point.gpu)} GFLOP/s`);
  }
  addon.setNumThreads(1);
  return { ok: true, detail: routed.detail, cores: args.cores, worstError, errorDetail: errors.join("; "), points };
}

// ---------------------------------------------------------------------------------------------
// training equivalence (child)

interface Equivalence {
  model: string;
  cpuLoss: number;
  gpuLoss: number;
  /** |gpu − cpu| / cpu, of the last epoch's mean loss. */
  lossDifference: number;
  /** The largest weight difference, relative to the largest weight. */
  weightDifference: number;
  gpuGemms: number;
}

/**
 * Each model trained twice from the same weights on the same batches, products on the CPU then on the
 * GPU (dropout off: its masks are drawn afresh each run); the losses and weights should agree to float32
 * rounding, accumulated over the steps.
 */
export async function equivalenceWorker(args: { models: string[]; examples: number; epochs: number }, io: ChildIO): Promise<Equivalence[]> {
  const tf = await import("@tensorflow/tfjs-core");
  const { initBackend } = await import("../shared/backends/selectBackend.js");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { trainLocally } = await import("../client/training/localTrainer.js");
  const { activeNativeAddon } = await import("../shared/backends/native/activeAddon.js");
  await initBackend("cuda");
  const addon = activeNativeAddon()!;
  const data = syntheticImages(args.examples, 9)();
  const out: Equivalence[] = [];
  for (const name of args.models) {
    const train = async (minFlops: number) => {
      const model = buildModel(resolveModelSpec(name, [28, 28, 1], CLASS_NAMES, name.startsWith("fusion") ? { dropout: 0 } : {}));
      model.setWeights(model.getWeights().map((w, i) => tf.tensor(pattern(w.size, 100 + i).map((v) => v * 0.1), w.shape)));
      addon.cudaStats(true);
      addon.cudaRoute(minFlops);
      const r = await trainLocally(model, data, { epochs: args.epochs, batchSize: BATCH, learningRate: 0.001, optimizer: "adam", proximalMu: 0, seed: 7 });
      addon.cudaRoute(0);
      const stats = addon.cudaStats(true);
      const weights = model.getWeights().map((t) => t.dataSync() as Float32Array);
      model.dispose();
      if (stats.failures > 0) throw new Error(`${name}: products failed on the GPU: ${stats.lastError}`);
      return { loss: r.loss, weights, gpuGemms: stats.gpuGemms };
    };
    const cpu = await train(0);
    const gpu = await train(1);
    let diff = 0, scale = 0;
    gpu.weights.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) {
        diff = Math.max(diff, Math.abs(w[j]! - cpu.weights[i]![j]!));
        scale = Math.max(scale, Math.abs(cpu.weights[i]![j]!));
      }
    });
    out.push({ model: name, cpuLoss: cpu.loss, gpuLoss: gpu.loss, lossDifference: Math.abs(gpu.loss - cpu.loss) / cpu.loss, weightDifference: diff / scale, gpuGemms: gpu.gpuGemms });
    io.log(`${name}: loss ${cpu.loss} (CPU) vs ${gpu.loss} (GPU), weights within ${(diff / scale).toExponential(1)} of their scale`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// training (child)

/** The three ways a step's products can run, switched within one process between timed runs. */
const WAYS = ["native1", "nativeAll", "cuda"] as const;
type Way = (typeof WAYS)[number];

interface TrainPoint {
  model: string;
  params: number;
  /** Examples per second, each way. */
  rates: Record<Way, number>;
  /** Share of the products' FLOPs done on the GPU, the cuda way. */
  gpuShare: number;
  detail: string;
}

export async function trainWorker(args: { models: string[]; cores: number; budgetMs: number; maxExamples: number }, io: ChildIO) {
  const { initBackend } = await import("../shared/backends/selectBackend.js");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { trainLocally } = await import("../client/training/localTrainer.js");
  const { activeNativeAddon } = await import("../shared/backends/native/activeAddon.js");
  const selection = await initBackend("cuda");
  const addon = activeNativeAddon()!;
  const minFlops = addon.cudaStats().minFlops;
  // `native` with one OpenBLAS thread is the cuda backend with routing off; with one thread per core, the
  // same with more OpenBLAS threads: one process, one warm state, the ways interleaved run by run.
  const setWay = (way: Way) => {
    addon.setNumThreads(way === "nativeAll" ? args.cores : 1);
    addon.cudaRoute(way === "cuda" ? minFlops : 0);
  };
  const data = syntheticImages(args.maxExamples, 5);
  const cfg = { epochs: 1, batchSize: BATCH, learningRate: 0.001, optimizer: "adam" as const, proximalMu: 0, seed: 7 };
  const points: TrainPoint[] = [];
  for (const name of args.models) {
    const model = buildModel(resolveModelSpec(name, [28, 28, 1], CLASS_NAMES));
    setWay("native1"); // the slowest way sizes the runs
    await trainLocally(model, data(BATCH), cfg);
    const perExample = (await timeOnce(() => trainLocally(model, data(2 * BATCH), cfg))) / (2 * BATCH);
    const examples = Math.max(2 * BATCH, Math.min(args.maxExamples, Math.floor(args.budgetMs / perExample / BATCH) * BATCH));
    const run = () => trainLocally(model, data(examples), cfg);
    const samples = await measureInterleaved({ native1: run, nativeAll: run, cuda: run }, { warmup: 1, repeats: 5, before: setWay });
    setWay("cuda");
    addon.cudaStats(true);
    await trainLocally(model, data(2 * BATCH), cfg);
    const stats = addon.cudaStats(true);
    setWay("native1");
    const rates = Object.fromEntries(WAYS.map((w) => [w, (examples * 1000) / samples[w].median])) as Record<Way, number>;
    points.push({
      model: name,
      params: model.countParams(),
      rates,
      gpuShare: stats.gpuFlops / Math.max(1, stats.gpuFlops + stats.cpuFlops),
      detail: `${examples} examples/run, interleaved, median of 5 wall: ${WAYS.map((w) => `${w} ${formatNumber(samples[w].median)} ms`).join(", ")}${stats.failures ? `; ${stats.failures} GPU failures: ${stats.lastError}` : ""}`,
    });
    io.log(`${name}: ${WAYS.map((w) => `${w} ${formatNumber(rates[w])}`).join(", ")} examples/s`);
    model.dispose();
  }
  return { detail: selection.detail, points };
}

// ---------------------------------------------------------------------------------------------
// parent

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const log = (l: string) => io.log(l);
  const cores = ctx.machine.cores;
  const gemm = await runChild<GemmResult>("gpu.js", "gemmWorker", { squares: q ? [128, 256, 512, 1024, 2048] : [64, 128, 256, 512, 1024, 2048, 4096], cores, budgetMs: q ? 300 : 1000 }, { timeoutMs: 300_000, log });
  if (!gemm.ok) return { figures: [], targets: [], notes: [`Not run here: ${gemm.reason}. It runs where an NVIDIA GPU, its driver, the CUDA runtime and cuBLAS are found (\`--backend cuda\`); docs/gpu.md has its results from an H100.`] };

  const figures: Figure[] = [];
  const tables: Table[] = [{
    title: `Products (sgemm, GFLOP/s; the GPU's include the copies to it and back): ${gemm.detail}`,
    columns: ["M×N×K", "MFLOP", "CPU, 1 thread", `CPU, ${cores} threads`, "GPU", "GPU / 1 thread", `GPU / ${cores} threads`],
    rows: gemm.points.map((p) => [p.shape.join("×"), formatNumber(p.mflop), formatNumber(p.cpu1), formatNumber(p.cpuAll), formatNumber(p.gpu), formatNumber(p.gpu / p.cpu1), formatNumber(p.gpu / p.cpuAll)]),
  }];
  const crossover = gemm.points.filter((p) => p.gpu > p.cpu1).map((p) => p.mflop).sort((a, b) => a - b)[0];
  figures.push({ id: "gpu.crossoverMflop", label: "smallest product measured that the GPU (copies included) finishes before one CPU thread", value: crossover ?? null, unit: "MFLOP" });

  const training = await runChild<{ detail: string; points: TrainPoint[] }>("gpu.js", "trainWorker", { models: [...MODELS], cores, budgetMs: q ? 2000 : 8000, maxExamples: 2048 }, {
    timeoutMs: q ? 600_000 : 1_800_000, log,
  });
  const rows: (string | number | null)[][] = [];
  for (const p of training.points) {
    figures.push({
      id: `gpu.${p.model}.speedup`, label: `${p.model}: training examples/s on cuda vs native with ${cores} OpenBLAS threads`,
      value: p.rates.cuda, unit: "examples/s", baseline: { label: `native, ${cores} threads`, value: p.rates.nativeAll, unit: "examples/s" },
      ratio: ratio(p.rates.cuda, p.rates.nativeAll), detail: p.detail,
    });
    rows.push([p.model, p.params, formatNumber(p.rates.native1), formatNumber(p.rates.nativeAll), formatNumber(p.rates.cuda), `${(p.gpuShare * 100).toFixed(0)}%`, formatNumber(p.rates.cuda / p.rates.native1), formatNumber(p.rates.cuda / p.rates.nativeAll)]);
  }
  tables.push({
    title: `Training (trainLocally, batch ${BATCH}, Adam; examples/s, wall clock; the three ways interleaved in one process): ${training.detail}`,
    columns: ["model", "parameters", "native, 1 thread", `native, ${cores} threads`, "cuda", "product FLOPs on the GPU", "cuda / 1 thread", `cuda / ${cores} threads`],
    rows,
  });
  const equivalence = await runChild<Equivalence[]>("gpu.js", "equivalenceWorker", { models: [...MODELS], examples: 128, epochs: 2 }, { timeoutMs: 600_000, log });
  tables.push({
    title: "Training with every product on the GPU vs on the CPU (same weights and batches, dropout off; 2 epochs × 128 examples, batch 32, Adam)",
    columns: ["model", "products on the GPU", "loss, CPU", "loss, GPU", "loss difference", "largest weight difference / largest weight"],
    rows: equivalence.map((e) => [e.model, e.gpuGemms, e.cpuLoss.toFixed(6), e.gpuLoss.toFixed(6), e.lossDifference.toExponential(1), e.weightDifference.toExponential(1)]),
  });
  const worstLoss = Math.max(...equivalence.map((e) => e.lossDifference));
  const targets: TargetInput[] = [{
    id: "gpu.training",
    description: "training with products on the GPU reaches the CPU's loss: worst relative difference over the models (≤ 1e-4)",
    measured: worstLoss, unit: "", op: "<=", threshold: 1e-4,
  }, {
    id: "gpu.numerics",
    description: "cuBLAS products agree with OpenBLAS's: worst difference relative to the result's largest value (≤ 1e-5)",
    measured: gemm.worstError, unit: "", op: "<=", threshold: 1e-5,
    note: gemm.errorDetail,
  }];
  return {
    figures, targets, tables,
    notes: [
      "Products are this process's sgemm calls, timed in wall clock (the GPU's time is not the process's CPU time); the GPU's include copying A and B from host memory and C back, since tensors live in host memory (tfjs's wasm heap).",
      "Training uses synthetic 28×28 images (a step's speed does not depend on pixel values). Elementwise ops, reductions and Adam stay on one CPU thread on every way: they bound what the GPU can do for a step.",
    ],
  };
}
