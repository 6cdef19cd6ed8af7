/**
 * Benchmark 1, compute. The machine's practical peak is OpenBLAS sgemm (the native addon) on square
 * matrices; each available tfjs backend's own tf.matMul (with readback) and the training throughput of
 * `cnn` and `fusion-s` (trainLocally on real Fashion-MNIST batches, FLOPs counted analytically, see
 * harness/flops.ts) are compared with it. Every backend runs in its own process (a process picks its
 * backend once).
 *
 * Targets: cnn and fusion-s training ≥ 25% of the sgemm peak on the backend `auto` selects (the peak at
 * the thread count training uses: one OpenBLAS thread per process, since clients train in parallel
 * processes); the wasm fallback's training ≥ 50% of its own tf.matMul GFLOP/s.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { fashionMnistSubset } from "./harness/fixtures.js";
import { countFlops, describeLayers, type FlopCount } from "./harness/flops.js";
import { formatNumber } from "./harness/markdown.js";
import { loadNativeAddon } from "../shared/backends/native/nativeAddon.js";
import { runChild, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type Table, type TargetInput } from "./harness/results.js";
import { describeSample, measure, repeatsFor, stat, timeOnce } from "./harness/timing.js";

const MODELS = ["cnn", "fusion-s"] as const;
const GEMM_KERNELS = new Set([
  "BatchMatMul", "_FusedMatMul", "MatMul", "Conv2D", "FusedConv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput",
  // The fused conv block (conv + bias + ReLU + 2x2 max pool, and its gradients): mostly the conv's arithmetic.
  "FedfusionConvPool", "FedfusionConvPoolGrad",
]);
const BATCH = 32;
/** The chain kernels' functions (shared/model/chainKernels.ts), timed for a chain step's breakdown. */
const CHAIN_KERNELS = ["convPool", "convPoolGrad", "sgemm", "biasRelu", "sumColumns", "adamUpdate"] as const;
/** Steps a chain step's breakdown is timed over (a chain step takes ~1-3 ms; a run's set-up, ~5 ms, is amortised as in training). */
const CHAIN_PROFILE_STEPS = 64;

// ---------------------------------------------------------------------------------------------
// sgemm (child)

interface SgemmPoint {
  n: number;
  threads: number;
  gflops: number;
  detail: string;
}

type SgemmResult = { ok: true; blas: string; points: SgemmPoint[] } | { ok: false; reason: string };

export async function sgemmWorker(args: { sizes: number[]; threads: number[]; budgetMs: number }, io: ChildIO): Promise<SgemmResult> {
  const load = loadNativeAddon();
  if (!load.ok) return { ok: false, reason: load.reason };
  const { addon } = load;
  const points: SgemmPoint[] = [];
  for (const threads of args.threads) {
    addon.setNumThreads(threads);
    for (const n of args.sizes) {
      const A = new Float32Array(n * n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
      const B = new Float32Array(n * n).map((_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
      const C = new Float32Array(n * n);
      const f = () => addon.sgemm(false, false, n, n, n, 1, A, n, B, n, 0, C, n);
      const one = await timeOnce(f);
      const s = await measure(f, { warmup: 1, repeats: repeatsFor(args.budgetMs, one, 3, 25) });
      // The peak is the fastest run: interference (this machine is shared) only ever slows a run down.
      // One thread: CPU time (waiting for a core is not sgemm's time); several: wall time.
      const clock = threads === 1 ? "cpu" : "wall";
      points.push({ n, threads, gflops: (2 * n ** 3) / stat(s, clock).min / 1e6, detail: describeSample(s, clock) });
      io.log(`sgemm ${n}³ ${threads} thread(s): ${formatNumber(points.at(-1)!.gflops)} GFLOP/s`);
    }
  }
  addon.setNumThreads(1);
  return { ok: true, blas: load.blas, points };
}

// ---------------------------------------------------------------------------------------------
// one backend (child)

interface KernelShare {
  name: string;
  ms: number;
  share: number;
  calls: number;
}

/**
 * A step with no tfjs kernel in it (client/training/nativeChainTrainer.ts): nothing for tf.profile to
 * break down, so the chain's kernels are timed instead.
 */
interface NativeStep {
  nativeStep: true;
  /** Which kernels ran the steps: the native addon's or the WebAssembly SIMD ones. */
  kind: string;
  /** Wall time per step, and each kernel function's share of it (the rest: batches, softmax, loss, loop). */
  stepMs: number;
  top: KernelShare[];
}

interface StepProfile {
  nativeStep: false;
  examples: number;
  steps: number;
  kernelMs: number;
  gemmShare: number;
  /** FLOPs of the profiled examples / time inside GEMM-class kernels. */
  gemmGflops: number;
  kernelCallsPerStep: number;
  top: KernelShare[];
  /** The most frequent kernel call (name and shapes), e.g. a gradient that loops. */
  commonest: { signature: string; perStep: number };
}

interface ModelResult {
  model: string;
  params: number;
  flops: FlopCount;
  examples: number;
  repeats: number;
  medianMs: number;
  gflops: number;
  detail: string;
  profile: StepProfile | NativeStep | null;
}

interface BackendResult {
  choice: string;
  name: string;
  tfBackend: string;
  detail: string;
  matmul: { n: number; gflops: number; detail: string }[];
  models: ModelResult[];
  errors: string[];
}

interface BackendArgs {
  choice: string;
  models: string[];
  sizes: number[];
  matmulBudgetMs: number;
  trainBudgetMs: number;
  repeats: number;
  maxExamples: number;
}

export async function backendWorker(args: BackendArgs, io: ChildIO): Promise<BackendResult> {
  const { initBackend, parseBackendChoice } = await import("../shared/backends/selectBackend.js");
  const sel = await initBackend(parseBackendChoice(args.choice));
  const tf = await import("@tensorflow/tfjs-core");
  const out: BackendResult = { choice: args.choice, name: sel.name, tfBackend: sel.tfBackend, detail: sel.detail, matmul: [], models: [], errors: [] };

  for (const n of args.sizes) {
    const a = tf.randomNormal([n, n]) as tfc.Tensor2D;
    const b = tf.randomNormal([n, n]) as tfc.Tensor2D;
    const f = () => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    };
    const one = await timeOnce(f);
    const s = await measure(f, { warmup: one > args.matmulBudgetMs ? 0 : 1, repeats: repeatsFor(args.matmulBudgetMs, one, one > args.matmulBudgetMs ? 1 : 3, 15) });
    out.matmul.push({ n, gflops: (2 * n ** 3) / s.cpu.median / 1e6, detail: describeSample(s, "cpu") });
    io.log(`${args.choice}: tf.matMul ${n}² ${formatNumber(out.matmul.at(-1)!.gflops)} GFLOP/s`);
    a.dispose();
    b.dispose();
  }

  const { train } = await fashionMnistSubset(args.maxExamples);
  const { subset } = await import("../shared/data/imageDataset.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { trainLocally } = await import("../client/training/localTrainer.js");
  const first = (n: number) => subset(train, Uint32Array.from({ length: Math.min(n, train.count) }, (_, i) => i));
  const cfg = { epochs: 1, batchSize: BATCH, learningRate: 0.001, optimizer: "adam" as const, proximalMu: 0, seed: 7 };

  for (const name of args.models) {
    try {
      const spec = resolveModelSpec(name, [train.height, train.width, train.channels], [...train.classNames]);
      const model = buildModel(spec);
      const flops = countFlops(describeLayers(model));
      const params = model.countParams();
      // Warm-up (kernel compilation, first allocations), and the per-example rate that sizes the runs.
      const t32 = await timeOnce(() => trainLocally(model, first(BATCH), cfg));
      const slow = t32 > args.trainBudgetMs / 2;
      let perExample = t32 / BATCH;
      if (!slow) perExample = (await timeOnce(() => trainLocally(model, first(2 * BATCH), cfg))) / (2 * BATCH);
      const examples = Math.max(BATCH, Math.min(args.maxExamples, Math.floor(args.trainBudgetMs / perExample / BATCH) * BATCH));
      const data = first(examples);
      // Short runs (native cnn: ~0.15 s) are the noisiest on a shared machine: more of them, for a steadier median.
      const repeats = slow ? 1 : perExample * examples < 500 ? Math.max(args.repeats, 9) : args.repeats;
      // One full-size run first: the per-example cost keeps falling for the first thousand or so examples
      // (JIT, allocator, kernel caches), and the target is the steady rate of a local epoch.
      const s = await measure(() => trainLocally(model, data, cfg), { warmup: slow ? 0 : 1, repeats });
      const gflops = (examples * flops.training) / s.cpu.median / 1e6;
      const chainData = first(CHAIN_PROFILE_STEPS * BATCH);
      const chainStep = () => chainStepBreakdown(async () => (await trainLocally(model, chainData, cfg)).runner, Math.ceil(chainData.count / BATCH));
      const profile = await profileTraining(tf, () => trainLocally(model, first(slow ? BATCH : 2 * BATCH), cfg), slow ? BATCH : 2 * BATCH, flops.training, chainStep);
      out.models.push({ model: name, params, flops, examples, repeats, medianMs: s.cpu.median, gflops, detail: `${examples} examples/run, ${describeSample(s, "cpu")}`, profile });
      io.log(`${args.choice}: ${name} training ${formatNumber(gflops)} GFLOP/s (${examples} examples, ${formatNumber(s.cpu.median)} ms CPU)`);
      model.dispose();
    } catch (e) {
      out.errors.push(`${name}: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
    }
  }
  return out;
}

async function profileTraining(
  tf: typeof tfc,
  f: () => Promise<unknown>,
  examples: number,
  flopsPerExample: number,
  chainStep?: () => Promise<NativeStep | null>,
): Promise<StepProfile | NativeStep | null> {
  try {
    const info = await tf.profile(async () => {
      await f();
      return [] as tfc.Tensor[];
    });
    const byName = new Map<string, { ms: number; calls: number }>();
    const bySignature = new Map<string, number>();
    let total = 0;
    let calls = 0;
    const backend = tf.getBackend();
    for (const k of info.kernels) {
      // An op's wrapper around kernels it runs (tf.customGrad's, fused ops' "…__op"): its time is theirs.
      if (tf.getKernel(k.name, backend) === undefined) continue;
      calls++;
      const sig = `${k.name} ${k.inputShapes.map((sh) => `[${sh ?? ""}]`).join(",")}→${k.outputShapes.map((sh) => `[${sh}]`).join(",")}`;
      bySignature.set(sig, (bySignature.get(sig) ?? 0) + 1);
      const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls++;
      byName.set(k.name, e);
      total += ms;
    }
    let gemm = 0;
    for (const [name, e] of byName) if (GEMM_KERNELS.has(name)) gemm += e.ms;
    const steps = Math.ceil(examples / BATCH);
    // The chain trainer runs whole steps outside tfjs: only writing the weights back is seen.
    if (calls < steps) return chainStep ? await chainStep() : null;
    let commonest: [string, number] = ["", 0];
    for (const e of bySignature) if (e[1] > commonest[1]) commonest = e;
    const top = [...byName.entries()]
      .map(([name, e]) => ({ name, ms: e.ms, share: total > 0 ? e.ms / total : 0, calls: e.calls / steps }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 8);
    return {
      nativeStep: false,
      examples,
      steps,
      kernelMs: total / steps,
      gemmShare: total > 0 ? gemm / total : 0,
      gemmGflops: gemm > 0 ? (examples * flopsPerExample) / gemm / 1e6 : 0,
      kernelCallsPerStep: calls / steps,
      top,
      commonest: { signature: commonest[0], perStep: commonest[1] / steps },
    };
  } catch {
    return null;
  }
}

/**
 * A chain step's breakdown: the chain kernels' functions wrapped with timers (the native adapter's and the
 * SIMD class's) for one run of `f`, which returns the runner that took the steps.
 */
async function chainStepBreakdown(f: () => Promise<string>, steps: number): Promise<NativeStep | null> {
  const { activeNativeAddon } = await import("../shared/backends/native/activeAddon.js");
  const { activeChainKernels } = await import("../shared/model/chainKernels.js");
  const { SimdKernels } = await import("../shared/backends/simd/simdKernels.js");
  const byName = new Map<string, { ms: number; calls: number }>();
  type Timed = Record<string, (...a: unknown[]) => unknown>;
  const targets = [SimdKernels.prototype as unknown as Timed];
  if (activeNativeAddon() !== null) targets.push(activeChainKernels(() => 0) as unknown as Timed);
  const restore: (() => void)[] = [];
  for (const t of targets) {
    for (const name of CHAIN_KERNELS) {
      const original = t[name];
      t[name] = function (this: unknown, ...a: unknown[]) {
        const start = performance.now();
        try {
          return original.apply(this, a);
        } finally {
          const e = byName.get(name) ?? { ms: 0, calls: 0 };
          e.ms += performance.now() - start;
          e.calls++;
          byName.set(name, e);
        }
      };
      restore.push(() => (t[name] = original));
    }
  }
  let kind: string;
  const start = performance.now();
  try {
    kind = await f();
  } finally {
    for (const r of restore) r();
  }
  const total = performance.now() - start;
  if (kind === "tfjs") return null;
  const top = [...byName.entries()].map(([name, e]) => ({ name, ms: e.ms / steps, share: e.ms / total, calls: e.calls / steps }));
  const inKernels = top.reduce((a, k) => a + k.ms * steps, 0);
  top.push({ name: "outside the kernels (batches, softmax, loss, loop)", ms: (total - inKernels) / steps, share: (total - inKernels) / total, calls: 0 });
  top.sort((a, b) => b.ms - a.ms);
  return { nativeStep: true, kind, stepMs: total / steps, top };
}

/** "convPool 33%, sgemm 28% (3 calls), …": a chain step's largest shares. */
function chainShares(p: NativeStep, n: number): string {
  return p.top
    .slice(0, n)
    .map((k) => `${k.name} ${formatNumber(100 * k.share)}%${k.calls > 1 ? ` (${Math.round(k.calls)} calls)` : ""}`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------------
// the benchmark (orchestration)

function bestOf(a: SgemmResult, b: SgemmResult): SgemmResult {
  if (!a.ok || !b.ok) return a.ok ? a : b;
  const points = a.points.map((p) => {
    const q = b.points.find((x) => x.n === p.n && x.threads === p.threads);
    return q && q.gflops > p.gflops ? { ...q, detail: `best of two sessions; ${q.detail}` } : { ...p, detail: `best of two sessions; ${p.detail}` };
  });
  return { ok: true, blas: a.blas, points };
}

/** What limits a model's training throughput, from its kernel profile. */
export function explainTraining(m: ModelResult, peak: number | null): string {
  const p = m.profile;
  const perExample = `${formatNumber(m.flops.training / 1e6)} MFLOP per example`;
  if (!p) return `${perExample}; no kernel profile available`;
  if (p.nativeStep) {
    const where = p.kind === "simd" ? "the project's WebAssembly SIMD kernels" : "the native addon";
    return `${perExample}; the whole step runs outside tfjs in ${where} (client/training/nativeChainTrainer.ts): ${formatNumber(p.stepMs)} ms per ${BATCH}-example step — ${chainShares(p, 6)}`;
  }
  const others = p.top.filter((k) => !GEMM_KERNELS.has(k.name)).slice(0, 3);
  const gemmEff = peak ? ` (${formatNumber((100 * p.gemmGflops) / peak)}% of peak)` : "";
  return (
    `${perExample}; per ${BATCH}-example step ${formatNumber(p.kernelMs)} ms in ${Math.round(p.kernelCallsPerStep)} kernel calls: ` +
    `matmul/conv kernels take ${formatNumber(100 * p.gemmShare)}% and run at ${formatNumber(p.gemmGflops)} GFLOP/s${gemmEff} on these small shapes; ` +
    `the rest is non-GEMM work (${others.map((k) => `${k.name} ${formatNumber(100 * k.share)}%`).join(", ")}; ` +
    `commonest call ${p.commonest.signature} × ${formatNumber(p.commonest.perStep)} per step)`
  );
}

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const log = (l: string) => io.log(l);
  const cores = ctx.machine.cores;
  const measureSgemm = () =>
    runChild<SgemmResult>(
      "compute.js",
      "sgemmWorker",
      { sizes: q ? [512, 1024] : [512, 1024, 2048], threads: cores > 1 ? [1, cores] : [1], budgetMs: q ? 1000 : 4000 },
      { timeoutMs: q ? 90_000 : 600_000, log },
    ).catch((e: Error): SgemmResult => ({ ok: false, reason: e.message.split("\n")[0] }));
  const sgemmBefore = await measureSgemm();

  // CPU throughput only: `cuda`'s products run on a GPU, which this process's CPU time does not see (bench/gpu.ts).
  const available = ctx.machine.backends.filter((b) => b.available && b.choice !== "cuda");
  const backends: BackendResult[] = [];
  const failures: string[] = [];
  for (const b of available) {
    const isCpu = b.choice === "cpu";
    const args: BackendArgs = {
      choice: b.choice,
      // Pure-JS fusion-s needs minutes per 32 examples: full mode only.
      models: isCpu && q ? ["cnn"] : [...MODELS],
      sizes: isCpu && q ? [512] : [512, 1024],
      matmulBudgetMs: q ? 1500 : 5000,
      trainBudgetMs: q ? 2500 : 8000,
      repeats: q ? 5 : 7, // a ~0.5 s cnn run varied ±40% between quick runs with 3
      maxExamples: 4096,
    };
    try {
      backends.push(await runChild<BackendResult>("compute.js", "backendWorker", args, { timeoutMs: q ? 150_000 : 1_200_000, log }));
    } catch (e) {
      failures.push(`${b.choice}: ${(e as Error).message.split("\n")[0]}`);
    }
  }

  // The peak is measured before and after the backends, and the better of the two kept per point.
  const sgemmAfter = sgemmBefore.ok ? await measureSgemm() : sgemmBefore;
  const sgemm = bestOf(sgemmBefore, sgemmAfter);
  const peakAt = (threads: number) => (sgemm.ok ? Math.max(...sgemm.points.filter((p) => p.threads === threads).map((p) => p.gflops)) : null);
  const peak1 = peakAt(1);
  const peakAll = cores > 1 ? peakAt(cores) : peak1;
  const base = { label: "sgemm peak, 1 thread", value: peak1, unit: "GFLOP/s" };

  const figures: Figure[] = [];
  const tables: Table[] = [];
  if (sgemm.ok) {
    for (const p of sgemm.points) {
      figures.push({ id: `sgemm.${p.n}.t${p.threads}`, label: `OpenBLAS sgemm ${p.n}×${p.n}×${p.n}, ${p.threads} thread${p.threads > 1 ? "s" : ""}`, value: p.gflops, unit: "GFLOP/s", detail: p.detail });
    }
  } else {
    figures.push({ id: "sgemm", label: "OpenBLAS sgemm peak", value: null, unit: "GFLOP/s", detail: `not measured: ${sgemm.reason}` });
  }
  for (const b of backends) {
    for (const m of b.matmul) {
      figures.push({ id: `${b.choice}.matmul.${m.n}`, label: `${b.choice}: tf.matMul ${m.n}² (with readback)`, value: m.gflops, unit: "GFLOP/s", baseline: base, ratio: ratio(m.gflops, peak1), detail: m.detail });
    }
    for (const m of b.models) {
      figures.push({
        id: `${b.choice}.${m.model}.train`,
        label: `${b.choice}: ${m.model} training (trainLocally, batch ${BATCH})`,
        value: m.gflops,
        unit: "GFLOP/s",
        baseline: base,
        ratio: ratio(m.gflops, peak1),
        detail: `${m.detail}; vs all-core peak ${formatNumber(ratio(m.gflops, peakAll))}×`,
      });
    }
    const bestMatmul = Math.max(...b.matmul.map((m) => m.gflops));
    if (b.choice === "wasm") {
      for (const m of b.models) {
        figures.push({ id: `wasm.${m.model}.vsMatmul`, label: `wasm: ${m.model} training vs its own tf.matMul`, value: m.gflops, unit: "GFLOP/s", baseline: { label: "wasm tf.matMul (best size)", value: bestMatmul, unit: "GFLOP/s" }, ratio: ratio(m.gflops, bestMatmul) });
      }
    }
    for (const err of b.errors) failures.push(`${b.choice}: ${err}`);
  }

  // FLOP counting, per model (from any backend: the count does not depend on it).
  const counted = new Map<string, ModelResult>();
  for (const b of backends) for (const m of b.models) if (!counted.has(m.model)) counted.set(m.model, m);
  for (const m of counted.values()) {
    tables.push({
      title: `FLOPs per training example, ${m.model} (${m.params.toLocaleString("en-US")} parameters)`,
      columns: ["layer", "kind", "forward MFLOP", "backward MFLOP"],
      rows: [...m.flops.perLayer.map((l) => [l.name, l.kind, l.forward / 1e6, l.backward / 1e6]), ["total", "", m.flops.forward / 1e6, m.flops.backward / 1e6]],
    });
  }
  const profileRows: (string | number | null)[][] = [];
  for (const b of backends) {
    for (const m of b.models) {
      const p = m.profile;
      if (p?.nativeStep) {
        const kernels = p.top.filter((k) => (CHAIN_KERNELS as readonly string[]).includes(k.name));
        const calls = kernels.reduce((a, k) => a + k.calls, 0);
        const ms = kernels.reduce((a, k) => a + k.ms, 0);
        profileRows.push([b.choice, m.model, ms, Math.round(calls), null, null, `outside tfjs (${p.kind} chain kernels, timed): ${chainShares(p, 5)}`, ""]);
        continue;
      }
      profileRows.push([
        b.choice,
        m.model,
        p ? p.kernelMs : null,
        p ? Math.round(p.kernelCallsPerStep) : null,
        p ? `${formatNumber(100 * p.gemmShare)}%` : null,
        p ? p.gemmGflops : null,
        p ? p.top.slice(0, 5).map((k) => `${k.name} ${formatNumber(100 * k.share)}%`).join(", ") : "",
        p ? `${p.commonest.signature} × ${formatNumber(p.commonest.perStep)}` : "",
      ]);
    }
  }
  if (profileRows.length > 0) {
    tables.push({
      title: "Where a training step's time goes (tf.profile of 1–2 steps; kernel time, profiling adds a readback per kernel)",
      columns: ["backend", "model", "kernel ms / step", "kernel calls / step", "matmul+conv share", "matmul+conv GFLOP/s", "top kernels", "commonest call / step"],
      rows: profileRows,
    });
  }

  // Targets.
  const targets: TargetInput[] = [];
  // Where auto picks `cuda` (a GPU machine), the CPU target is judged on its CPU kernels: `native`.
  const selected = ctx.machine.selected.name === "cuda" ? { ...ctx.machine.selected, name: "native" as const } : ctx.machine.selected;
  const sel = backends.find((b) => b.choice === selected.name);
  for (const name of MODELS) {
    const m = sel?.models.find((x) => x.model === name);
    targets.push({
      id: `compute.${name}.peak`,
      description: `${name} training throughput vs the sgemm peak (backend ${selected.name ?? "none"}, 1 thread)`,
      measured: m && peak1 ? m.gflops / peak1 : null,
      unit: "%",
      op: ">=",
      threshold: 0.25,
      unavailable: !sgemm.ok ? `no sgemm peak: ${sgemm.reason}` : !selected.available ? `no backend: ${selected.reason}` : !m ? `${name} was not measured on ${selected.name}` : undefined,
      limitedBy: m ? explainTraining(m, peak1) : undefined,
    });
  }
  const wasm = backends.find((b) => b.choice === "wasm");
  const wasmMatmul = wasm ? Math.max(...wasm.matmul.map((m) => m.gflops)) : null;
  for (const name of MODELS) {
    const m = wasm?.models.find((x) => x.model === name);
    targets.push({
      id: `compute.wasm.${name}`,
      description: `wasm fallback: ${name} training vs wasm's own tf.matMul`,
      measured: m && wasmMatmul ? m.gflops / wasmMatmul : null,
      unit: "%",
      op: ">=",
      threshold: 0.5,
      unavailable: !wasm ? "the wasm backend is not available here" : `${name} was not measured on wasm`,
      limitedBy: m ? explainTraining(m, wasmMatmul) : undefined,
    });
  }

  const notes = [
    `Peak: OpenBLAS \`sgemm\` through the project's native addon on square float32 matrices (${sgemm.ok ? sgemm.blas : "not available"}), measured before and after the backends; each point is its fastest run (interference only slows runs down) and the best size at 1 thread is the baseline, because training runs one OpenBLAS thread per process (clients train in parallel processes). The all-core peak is given in each training row's detail. Squares this size stay with OpenBLAS (it does them best); on a CPU with AVX-512 the training steps' small and few-column products go to the addon's own kernel instead (shared/backends/native/README.md), which is faster on those shapes than OpenBLAS, not than this peak.`,
    "tf.matMul: two random n×n float32 tensors, `tf.matMul(a, b).dataSync()` per call (readback included).",
    "Clock: single-threaded figures (1-thread sgemm, tf.matMul, training) use the process's CPU time, because on this shared machine wall time also counts the time spent waiting for a core; the multi-threaded sgemm uses wall time. The details show both.",
    `Training: \`trainLocally\` (client/training/localTrainer.ts) for one epoch over a fixed, class-mixed subset of Fashion-MNIST's training split, batch ${BATCH}, Adam; a short warm-up sizes the runs, one untimed run of full size follows (the per-example cost keeps falling for the first thousand or so examples), then the median of the timed runs. The run length is sized to the backend's speed (the examples per run are in the detail).`,
    "Training GFLOP/s = examples × analytic training FLOPs per example / median time. FLOPs per example: conv 2·Ho·Wo·Cout·kh·kw·Cin, dense 2·in·out per position, encoder blocks' q/k/v/out projections, Q·Kᵀ and A·V (2·T²·d each) and MLP; backward = weight gradient + input gradient = 2× forward per product, except the first layer (no input gradient). Pooling, activations, softmax, layer norm, loss and optimizer are not counted (see the FLOP tables).",
    "Each backend runs in its own process (`initBackend` is once per process); the backend `auto` selects is the one the ≥ 25% target is judged on.",
    ...(q && available.some((b) => b.choice === "cpu") ? ["Quick mode skips fusion-s on the pure-JavaScript `cpu` backend (minutes per 32 examples); the full suite measures it."] : []),
    ...failures.map((f) => `Not measured: ${f}`),
  ];
  return { figures, targets, tables, notes };
}
