/**
 * Benchmark 4, aggregation at memory speed, and the coordinator's peak memory.
 *
 * Throughput: K = 10 updates (deltas) of P float32 parameters are decoded from their wire chunks
 * (encodePayload → chunkPayload → PayloadAssembler into the upload slot's reused buffer: copy with the CRC-32C
 * fused in) and folded into a streaming FedAvg round as the coordinator does it (one strategy across rounds,
 * `beginRound(current)`, addDelta × K, finishInPlace as the state machine does). Baseline:
 * `Float32Array.prototype.set` copying the same K·P·4 bytes. Both are quoted as update bytes consumed per
 * second (K·P·4 / time); the copy reads and writes each byte once. Target: ≥ 50% of the copy bandwidth.
 *
 * Memory: in a fresh process, K = 10 and K = 100 updates of a 10M-parameter model are streamed through
 * the coordinator's own path (chunks → PayloadAssembler in an UploadGate slot's buffer →
 * RoundStateMachine.submitUpdate: validation, strategy.addDelta), the sender side being a 1 MiB chunk repeated (so it costs no memory).
 * Peak RSS (the kernel's high-water mark) minus the RSS before any model-sized allocation.
 * Target: ≤ 3 × model size + 64 MiB, and independent of K.
 */
import { NODE_FLAGS } from "../shared/nodeFlags.js";
import { MB, MiB, syntheticSpecs, syntheticWeights } from "./harness/fixtures.js";
import { formatNumber } from "./harness/markdown.js";
import { cliRoundSettings } from "./harness/settings.js";
import { runChild, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type TargetInput } from "./harness/results.js";
import { cpuNow, describeSample, measureInterleaved, median, type Sample } from "./harness/timing.js";

const K = 10;
const MEMORY_PARAMS = 10_000_000;
const MEMORY_CONSTANT = 64 * MiB;

interface ThroughputResult {
  params: number;
  k: number;
  bytes: number;
  aggregate: Sample;
  copy: Sample;
  /** CRC-32C alone over the same bytes. */
  crc32c: Sample;
  /** Median ms per phase over the timed aggregate runs. */
  phases: { assemble: number; add: number; finish: number };
  /** "native" or "javascript": which fold loops ran. */
  foldKernels: string;
  /** "native" or "javascript": which CRC-32C ran. */
  checksum: string;
}

export async function throughputWorker(args: { params: number; k: number; repeats: number }, io: ChildIO): Promise<ThroughputResult> {
  const { encodePayload, chunkPayload, PayloadAssembler } = await import("../shared/codec/payload.js");
  const { checksum } = await import("../shared/codec/crc32c.js");
  const { createStrategy } = await import("../coordinator/strategies/createStrategy.js");
  const { UploadGate } = await import("../coordinator/transport/uploadGate.js");
  const specs = syntheticSpecs(args.params);
  const current = syntheticWeights(specs, 1);
  const gate = new UploadGate(2);
  const strategy = createStrategy("fedavg");
  const distinct = 2; // two different updates, alternated: memory stays bounded for 50M parameters
  const updates = Array.from({ length: distinct }, (_, d) => {
    const weights = syntheticWeights(specs, 100 + d);
    const enc = encodePayload(specs.map((s, i) => ({ ...s, values: weights[i] })));
    return { weights, manifest: enc.manifest, chunks: [...chunkPayload(enc.parts)] };
  });
  const bytes = args.k * args.params * 4;
  const phaseRuns: { assemble: number; add: number; finish: number }[] = [];

  const aggregate = async () => {
    const round = strategy.beginRound(current);
    const p = { assemble: 0, add: 0, finish: 0 };
    for (let k = 0; k < args.k; k++) {
      const u = updates[k % distinct];
      const slot = await gate.acquire();
      const t0 = cpuNow();
      const asm = new PayloadAssembler(u.manifest, specs, args.params * 4, slot.buffer);
      for (const c of u.chunks) asm.push(c);
      const tensors = asm.finish();
      const t1 = cpuNow();
      round.addDelta({ delta: tensors.map((t) => t.values), numExamples: 100 + k });
      p.assemble += t1 - t0;
      p.add += cpuNow() - t1;
      slot.release(true);
    }
    const t2 = cpuNow();
    round.finishInPlace(); // as the coordinator's state machine does: the mean overwrites the global weights
    p.finish = cpuNow() - t2;
    phaseRuns.push(p);
  };
  const dst = specs.map((s) => new Float32Array(s.shape[0]));
  const copy = () => {
    for (let k = 0; k < args.k; k++) {
      const w = updates[k % distinct].weights;
      for (let l = 0; l < dst.length; l++) dst[l].set(w[l]);
    }
  };
  const { crc32c: crc } = checksum();
  const crc32c = () => {
    for (let k = 0; k < args.k; k++) {
      let c = 0;
      for (const w of updates[k % distinct].weights) c = crc(new Uint8Array(w.buffer, w.byteOffset, w.byteLength), c);
    }
  };
  const s = await measureInterleaved({ aggregate, copy, crc32c }, { warmup: 1, repeats: args.repeats });
  const timed = phaseRuns.slice(1); // the first is the warm-up
  const phases = {
    assemble: median(timed.map((p) => p.assemble)),
    add: median(timed.map((p) => p.add)),
    finish: median(timed.map((p) => p.finish)),
  };
  io.log(`P=${args.params / 1e6}M: aggregate ${formatNumber(bytes / s.aggregate.cpu.median / 1e3)} MB/s, copy ${formatNumber(bytes / s.copy.cpu.median / 1e3)} MB/s (CPU time)`);
  const { foldKernels } = await import("../coordinator/foldKernels.js");
  return { params: args.params, k: args.k, bytes, aggregate: s.aggregate, copy: s.copy, crc32c: s.crc32c, phases, foldKernels: foldKernels().name, checksum: checksum().name };
}

interface OrderResult {
  params: number;
  k: number;
  /** Values of the mean that differ when the same updates arrive in reverse order: our float64 accumulator. */
  float64: number;
  /** The same with a float32 accumulator (what a 3×-memory, one-fewer-pass design would use). */
  float32: number;
}

/**
 * Why the accumulator is float64: K random deltas (normal, as training deltas are) with different example
 * counts, folded in arrival order and in reverse, by the coordinator's strategy and by a float32 sum.
 */
export async function orderWorker(args: { params: number; k: number }): Promise<OrderResult> {
  const { createStrategy } = await import("../coordinator/strategies/createStrategy.js");
  const { Random } = await import("../shared/random.js");
  const rng = new Random(11);
  const deltas = Array.from({ length: args.k }, () => Float32Array.from({ length: args.params }, () => rng.normal() * 1e-3));
  const counts = Array.from({ length: args.k }, () => 100 + rng.int(5000));
  const current = [Float32Array.from({ length: args.params }, () => rng.normal() * 0.05)];
  const order = Array.from({ length: args.k }, (_, i) => i);
  const float64Mean = (ks: number[]) => {
    const round = createStrategy("fedavg").beginRound(current);
    for (const k of ks) round.addDelta({ delta: [deltas[k]!], numExamples: counts[k]! });
    return round.finish()[0]!;
  };
  const float32Mean = (ks: number[]) => {
    const acc = new Float32Array(args.params);
    let total = 0;
    for (const k of ks) {
      const d = deltas[k]!;
      const w = counts[k]!;
      total += w;
      for (let j = 0; j < acc.length; j++) acc[j] += w * d[j]!;
    }
    return current[0]!.map((c, j) => c + acc[j]! / total);
  };
  const differing = (a: Float32Array, b: Float32Array) => a.reduce((n, x, j) => n + (x === b[j] ? 0 : 1), 0);
  const reversed = order.slice().reverse();
  return {
    params: args.params,
    k: args.k,
    float64: differing(float64Mean(order), float64Mean(reversed)),
    float32: differing(float32Mean(order), float32Mean(reversed)),
  };
}

interface MemoryResult {
  params: number;
  k: number;
  path: "coordinator" | "aggregator";
  modelBytes: number;
  baselineRss: number;
  peakRss: number;
  /** Peak minus baseline. */
  growth: number;
  ms: number;
  accepted: number;
}

/** The upload stream of one update: a 1 MiB pattern repeated (the sender costs no model-sized memory). */
function* patternStream(total: number, pattern: Uint8Array): Generator<Uint8Array> {
  for (let off = 0; off < total; off += pattern.byteLength) yield pattern.subarray(0, Math.min(pattern.byteLength, total - off));
}

export async function memoryWorker(args: { params: number; k: number; path: "coordinator" | "aggregator" }, io: ChildIO): Promise<MemoryResult> {
  const { PayloadAssembler } = await import("../shared/codec/payload.js");
  const { checksum } = await import("../shared/codec/crc32c.js");
  const { createStrategy } = await import("../coordinator/strategies/createStrategy.js");
  const { RoundStateMachine } = await import("../coordinator/rounds/roundStateMachine.js");
  const { UploadGate } = await import("../coordinator/transport/uploadGate.js");
  const { Encoding } = await import("../shared/generated/fedfusion/v1/federation.js");
  const specs = syntheticSpecs(args.params);
  const modelBytes = args.params * 4;
  const pattern = new Uint8Array(new Float32Array(MiB / 4).map((_, i) => ((i % 997) - 498) * 1e-5).buffer);
  let crc = 0;
  for (const c of patternStream(modelBytes, pattern)) crc = checksum().crc32c(c, crc);
  const manifest = {
    tensors: specs.map((s) => ({ name: s.name, shape: s.shape, encoding: Encoding.ENCODING_FLOAT32, byteLength: 4 * s.shape[0], scale: 0, zeroPoint: 0, nonzero: 0 })),
    totalBytes: modelBytes,
    crc32c: crc,
  };

  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const baselineRss = process.memoryUsage.rss();
  const t0 = performance.now();
  const current = syntheticWeights(specs, 1);
  const gate = new UploadGate(2);
  const receive = async () => {
    const slot = await gate.acquire();
    const asm = new PayloadAssembler(manifest, specs, modelBytes, slot.buffer);
    for (const c of patternStream(modelBytes, pattern)) asm.push(c);
    return { delta: asm.finish().map((t) => t.values), slot };
  };
  let accepted = 0;
  if (args.path === "coordinator") {
    const { settings, strategy } = await cliRoundSettings(["--rounds", "1", "--fraction", "1", "--round-timeout", "600", "--seed", "1"], args.k);
    const machine = new RoundStateMachine({ settings, shapes: specs.map((s) => s.shape), initialWeights: current, strategy, log: () => undefined });
    const sessions = Array.from({ length: args.k }, (_, i) => machine.join({ siteName: `site-${i}`, numExamples: 100, backend: "bench", encodings: ["float32"] }).sessionId);
    for (const sessionId of sessions) {
      const { delta, slot } = await receive();
      sample();
      const verdict = machine.submitUpdate(sessionId, {
        round: 1,
        baseModelVersion: 0,
        numExamples: 100,
        metrics: { loss: 0, accuracy: 0, steps: 0, trainMillis: 0, skippedFiles: 0 },
        delta,
      });
      if (verdict.accepted) accepted++;
      slot.release(!machine.keepsUpdates);
      sample();
    }
    // The round closes (and the strategy finishes) inside the last submitUpdate; what follows (the clients'
    // final evaluation) is not aggregation, so stop there.
    for (let i = 0; i < 1000 && machine.modelVersion < 1; i++) await new Promise((r) => setTimeout(r, 10));
    if (machine.modelVersion < 1) throw new Error("the round did not close after all updates were submitted");
    machine.stop();
  } else {
    const round = createStrategy("fedavg").beginRound(current);
    for (let k = 0; k < args.k; k++) {
      const { delta, slot } = await receive();
      round.addDelta({ delta, numExamples: 100 });
      slot.release(true);
      accepted++;
      sample();
    }
    round.finish();
  }
  sample();
  const ms = performance.now() - t0;
  // The kernel's high-water mark catches peaks between samples (ru_maxrss is in KiB on Linux).
  const peakRss = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  io.log(`${args.path} K=${args.k}: peak RSS growth ${formatNumber((peakRss - baselineRss) / MB)} MB`);
  return { params: args.params, k: args.k, path: args.path, modelBytes, baselineRss, peakRss, growth: peakRss - baselineRss, ms, accepted };
}

/** What a float32 accumulator would cost, measured in this run (or nothing when that measurement failed). */
function orderCost(o: OrderResult | null): string {
  return o
    ? `: in this run, reversing the arrival order of ${o.k} updates changed ${formatNumber(o.float32)} of the mean's ${formatNumber(o.params)} values with a float32 accumulator, ${formatNumber(o.float64)} with ours`
    : "";
}

function explainThroughput(t: ThroughputResult, o: OrderResult | null): string {
  const per = (ms: number) => `${formatNumber(t.bytes / ms / 1e3)} MB/s`;
  const total = t.phases.assemble + t.phases.add + t.phases.finish;
  const share = (ms: number) => `${formatNumber((100 * ms) / total)}%`;
  return (
    `decoding (copy into the assembly buffer with the CRC-32C in the same pass) takes ${share(t.phases.assemble)} of the time — CRC-32C alone runs at ${per(t.crc32c.cpu.median)} — ` +
    `and the FedAvg fold of the delta (float32 → float64 multiply-add per value, ${t.foldKernels} loop) ${share(t.phases.add)} at ${per(t.phases.add)}; ` +
    `finish (float64 → float32 mean) ${share(t.phases.finish)}. ` +
    `The floor of this design: an update is received into its buffer (one copy, checksum fused in) and only folded once the ` +
    `whole of it has verified, and the fold moves 20 bytes per value (float32 in, float64 accumulator read and written) against ` +
    `the copy's 8 — two passes that each cost about a copy. 50% would need one pass, i.e. folding unverified bytes (a failed ` +
    `upload could then not be taken back exactly) or a float32 accumulator (results depending on arrival order${orderCost(o)})`
  );
}

function explainMemory(m: MemoryResult, o: OrderResult | null): string {
  const x = (b: number) => `${formatNumber(b / m.modelBytes)}×`;
  return (
    `peak growth is ${x(m.growth)} the model: the global model (1×, which FedAvg's finish overwrites in place), the float64 accumulator ` +
    `(2×: float64 so the mean does not depend on the arrival order) and the upload slot's assembly buffer (1×, reused by every upload). ` +
    `4× is this design's floor: it fits 3× + 64 MiB only for models up to ~16.7M parameters (float32 accumulation would make it 3×, ` +
    `but results would then depend on the arrival order${orderCost(o)})`
  );
}

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const log = (l: string) => io.log(l);
  const sizes = q ? [1_000_000, 10_000_000] : [1_000_000, 10_000_000, 50_000_000];
  const figures: Figure[] = [];
  const targets: TargetInput[] = [];
  const notes: string[] = [];

  let order: OrderResult | null = null;
  try {
    order = await runChild<OrderResult>("aggregation.js", "orderWorker", { params: 1_000_000, k: K }, { timeoutMs: 120_000, log, execArgv: [...NODE_FLAGS] });
    figures.push({
      id: "agg.order",
      label: `values of the mean that change when ${order.k} updates of ${formatNumber(order.params / 1e6)}M params arrive in reverse order, float64 accumulator (FedAvg as the coordinator runs it)`,
      value: order.float64,
      unit: "values",
      baseline: { label: "float32 accumulator, the same updates", value: order.float32, unit: "values" },
      ratio: order.float32 > 0 ? order.float64 / order.float32 : null,
      detail: "random normal deltas, example counts 100–5,099",
    });
  } catch (e) {
    notes.push(`Order dependence run failed: ${(e as Error).message.split("\n")[0]}`);
  }

  for (const params of sizes) {
    const repeats = q ? 3 : params >= 50_000_000 ? 3 : 5;
    try {
      const t = await runChild<ThroughputResult>("aggregation.js", "throughputWorker", { params, k: K, repeats }, { timeoutMs: q ? 90_000 : 900_000, log, execArgv: [...NODE_FLAGS] });
      const agg = t.bytes / t.aggregate.cpu.median / 1e3;
      const copy = t.bytes / t.copy.cpu.median / 1e3;
      const label = `${params / 1e6}M params`;
      figures.push({ id: `agg.${params}`, label: `streaming FedAvg, K=${K}, ${label}, decode included`, value: agg, unit: "MB/s", baseline: { label: "Float32Array.set copy of the same bytes", value: copy, unit: "MB/s" }, ratio: ratio(agg, copy), detail: `aggregate ${describeSample(t.aggregate, "cpu")}; copy ${describeSample(t.copy, "cpu")}` });
      figures.push({ id: `agg.${params}.crc`, label: `CRC-32C of the same bytes (${t.checksum}), ${label}`, value: t.bytes / t.crc32c.cpu.median / 1e3, unit: "MB/s", baseline: { label: "copy", value: copy, unit: "MB/s" }, ratio: ratio(t.copy.cpu.median, t.crc32c.cpu.median) });
      figures.push({ id: `agg.${params}.decode`, label: `decode alone (PayloadAssembler: copy + CRC-32C in one pass), ${label}`, value: t.bytes / t.phases.assemble / 1e3, unit: "MB/s", baseline: { label: "copy", value: copy, unit: "MB/s" }, ratio: ratio(t.copy.cpu.median, t.phases.assemble) });
      figures.push({ id: `agg.${params}.fold`, label: `FedAvg fold alone (strategy.add), ${label}`, value: t.bytes / t.phases.add / 1e3, unit: "MB/s", baseline: { label: "copy", value: copy, unit: "MB/s" }, ratio: ratio(t.copy.cpu.median, t.phases.add) });
      targets.push({ id: `agg.${params}`, description: `streaming FedAvg of ${K} updates × ${label} (decode included) vs copy bandwidth`, measured: ratio(agg, copy), unit: "%", op: ">=", threshold: 0.5, limitedBy: explainThroughput(t, order) });
    } catch (e) {
      targets.push({ id: `agg.${params}`, description: `streaming FedAvg of ${K} updates × ${params / 1e6}M params vs copy bandwidth`, measured: null, unit: "%", op: ">=", threshold: 0.5, unavailable: (e as Error).message.split("\n")[0] });
    }
  }

  const mem: MemoryResult[] = [];
  // Quick mode measures the coordinator path only (the one the targets judge).
  for (const path of q ? (["coordinator"] as const) : (["coordinator", "aggregator"] as const)) {
    for (const k of [10, 100]) {
      try {
        mem.push(await runChild<MemoryResult>("aggregation.js", "memoryWorker", { params: MEMORY_PARAMS, k, path }, { timeoutMs: q ? 120_000 : 900_000, log, execArgv: [...NODE_FLAGS] }));
      } catch (e) {
        notes.push(`Memory run ${path} K=${k} failed: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }
  const modelBytes = MEMORY_PARAMS * 4;
  const limit = 3 * modelBytes + MEMORY_CONSTANT;
  for (const m of mem) {
    figures.push({
      id: `mem.${m.path}.k${m.k}`,
      label: `peak RSS growth, ${m.path === "coordinator" ? "coordinator path (RoundStateMachine.submitUpdate)" : "aggregator alone (strategy.add)"}, K=${m.k}, 10M params`,
      value: m.growth / MB,
      unit: "MB",
      baseline: { label: "model size", value: modelBytes / MB, unit: "MB" },
      ratio: m.growth / modelBytes,
      detail: `baseline RSS ${formatNumber(m.baselineRss / MB)} MB, peak ${formatNumber(m.peakRss / MB)} MB; ${m.accepted}/${m.k} updates accepted; ${formatNumber(m.ms / 1000)} s`,
    });
  }
  const coord = (k: number) => mem.find((m) => m.path === "coordinator" && m.k === k);
  for (const k of [10, 100]) {
    const m = coord(k);
    targets.push({
      id: `mem.k${k}`,
      description: `coordinator peak RSS growth, K=${k} updates of a 10M-param (40 MB) model, ≤ 3 × model + 64 MiB`,
      measured: m ? m.growth / MB : null,
      unit: "MB",
      op: "<=",
      threshold: limit / MB,
      unavailable: "the memory run failed (see notes)",
      limitedBy: m ? explainMemory(m, order) : undefined,
    });
  }
  // Shown whether or not the target is met: the bound is met at this size only thanks to its constant.
  const shown = coord(10);
  if (shown) notes.push(`Coordinator memory: ${explainMemory(shown, order)}.`);
  const m10 = coord(10);
  const m100 = coord(100);
  targets.push({
    id: "mem.independentOfK",
    description: "coordinator peak RSS independent of K: growth(K=100) − growth(K=10) ≤ ½ model size",
    measured: m10 && m100 ? (m100.growth - m10.growth) / MB : null,
    unit: "MB",
    op: "<=",
    threshold: modelBytes / 2 / MB,
    unavailable: "a memory run failed (see notes)",
    limitedBy: "updates are released after each add, but their ArrayBuffers are freed only when V8 collects them; with more updates, more garbage is alive at the peak",
  });
  notes.unshift(
    `Throughput: K=${K} updates per round (two distinct updates alternated, so memory stays bounded), pre-encoded and pre-chunked (1 MiB chunks) as they would arrive from gRPC; timed: PayloadAssembler in an upload slot's reused buffer (push every chunk: copy and CRC-32C in one pass; finish: length + CRC check) and \`round.addDelta\` per update, then \`round.finishInPlace()\` (the mean overwrites the global weights, as in the coordinator). Baselines in the same process, interleaved with it: \`Float32Array.prototype.set\` of the same K·P·4 bytes into preallocated arrays, and CRC-32C of the same bytes. MB/s = K·P·4 bytes / median CPU time of the process (MB = 10⁶ bytes; single-threaded work on a shared machine, where wall time would also count waiting for a core; the details give wall medians too).`,
    `Memory: one fresh process per run, with the coordinator's Node flags (${NODE_FLAGS.join(" ")}), no forced GC. Growth = the kernel's peak RSS (ru_maxrss) − RSS after imports, before any model-sized allocation; the global model itself (1×) is inside the growth. Limit: 3 × ${formatNumber(modelBytes / MB)} MB + 64 MiB = ${formatNumber(limit / MB)} MB. The coordinator path is what the gRPC service runs per upload; the aggregator-only path (full suite) is shown for comparison.`,
  );
  return { figures, targets, notes };
}
