/**
 * The benchmark harness's pure parts: target verdicts, markdown rendering from a fixed results object,
 * number formatting, FLOP counting and benchmark selection. No timing is asserted (and nothing is measured).
 */
import { describe, expect, it } from "vitest";
import { countFlops, layerBackward, layerForward, type LayerFlops } from "../../bench/harness/flops.js";
import type { MachineInfo } from "../../bench/harness/machine.js";
import { cell, formatDuration, formatNumber, formatValue, renderMarkdown } from "../../bench/harness/markdown.js";
import { BENCHMARKS, selectBenchmarks } from "../../bench/harness/registry.js";
import { benchmarkResult, evaluateTarget, ratio, timestampName, type SuiteResults, type TargetInput } from "../../bench/harness/results.js";
import { median, repeatsFor, summarize } from "../../bench/harness/timing.js";
import { blasThreads, roundSeconds } from "../../bench/bothCores.js";
import { firstReaching } from "../../bench/timeToAccuracy.js";
import { cnnClassesFor, cnnParams } from "../../bench/harness/coordinatorProcess.js";
import { ModelLanding } from "../../bench/harness/transportBaselines.js";
import { compareTransfer } from "../../bench/harness/transferComparison.js";
import { checksum } from "../../shared/codec/crc32c.js";

const target = (over: Partial<TargetInput>): TargetInput => ({
  id: "t",
  description: "a target",
  measured: 0.5,
  unit: "%",
  op: ">=",
  threshold: 0.25,
  ...over,
});

describe("evaluateTarget", () => {
  it("meets and misses by the comparison, with every operator", () => {
    expect(evaluateTarget(target({ measured: 0.25 })).status).toBe("met");
    expect(evaluateTarget(target({ measured: 0.2499 })).status).toBe("missed");
    expect(evaluateTarget(target({ op: "<=", measured: 1.02, threshold: 1.02 })).status).toBe("met");
    expect(evaluateTarget(target({ op: "<", measured: 1, threshold: 1 })).status).toBe("missed");
    expect(evaluateTarget(target({ op: ">", measured: 1.5, threshold: 1 })).status).toBe("met");
  });

  it("explains a miss with the benchmark's analysis, and says nothing extra when met", () => {
    const missed = evaluateTarget(target({ measured: 0.1, limitedBy: "SHA-256 dominates" }));
    expect(missed).toMatchObject({ status: "missed", why: "SHA-256 dominates" });
    expect(evaluateTarget(target({ limitedBy: "unused" })).why).toBeUndefined();
    expect(evaluateTarget(target({ measured: 0.1 })).why).toBe("no analysis recorded");
  });

  it("marks an unmeasurable target missed with its reason (e.g. the addon is not built)", () => {
    for (const measured of [null, NaN, Infinity]) {
      const r = evaluateTarget(target({ measured, unavailable: "native addon not built" }));
      expect(r).toMatchObject({ status: "missed", why: "native addon not built" });
    }
    expect(evaluateTarget(target({ measured: null })).why).toBe("not measured");
  });

  it("keeps pending and not-run targets out of met/missed, whatever was measured", () => {
    expect(evaluateTarget(target({ measured: 0.01, pending: "float16 not written yet" }))).toMatchObject({ status: "pending", why: "float16 not written yet" });
    expect(evaluateTarget(target({ measured: 0.01, notRun: "quick mode" }))).toMatchObject({ status: "not-run", why: "quick mode" });
    // pending wins over not-run
    expect(evaluateTarget(target({ pending: "p", notRun: "q" })).status).toBe("pending");
  });

  it("turns a failed benchmark into a missed target when it reported none", () => {
    const r = benchmarkResult("wire", "Wire", new Date(0), 5, null, "child crashed");
    expect(r.error).toBe("child crashed");
    expect(r.targets).toHaveLength(1);
    expect(r.targets[0]).toMatchObject({ status: "missed", why: "benchmark failed: child crashed" });
  });

  it("ratio refuses missing or zero baselines", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNull();
    expect(ratio(null, 2)).toBeNull();
    expect(ratio(3, undefined)).toBeNull();
    expect(ratio(NaN, 2)).toBeNull();
  });
});

describe("formatting", () => {
  it("gives three significant digits, thousands separators and n/a", () => {
    expect(formatNumber(37.349)).toBe("37.3");
    expect(formatNumber(0.0285)).toBe("0.0285");
    expect(formatNumber(1.106)).toBe("1.11");
    expect(formatNumber(123.4)).toBe("123");
    expect(formatNumber(12345.6)).toBe("12,346");
    expect(formatNumber(0)).toBe("0");
    expect(formatNumber(null)).toBe("n/a");
    expect(formatNumber(NaN)).toBe("n/a");
  });

  it("formats values by unit", () => {
    expect(formatValue(0.0285, "%")).toBe("2.85%");
    expect(formatValue(1.0012, "×")).toBe("1.00×");
    expect(formatValue(47.25, "GFLOP/s")).toBe("47.3 GFLOP/s");
    expect(formatValue(null, "s")).toBe("n/a");
    expect(formatDuration(59_400)).toBe("59 s");
    expect(formatDuration(431_000)).toBe("7 min 11 s");
    expect(formatDuration(3_725_000)).toBe("1 h 02 min");
  });

  it("escapes table cells", () => {
    expect(cell("a|b\nc")).toBe("a\\|b<br>c");
  });

  it("names result files portably", () => {
    expect(timestampName(new Date("2025-03-04T05:06:07.891Z"))).toBe("2025-03-04T05-06-07Z");
  });
});

function machine(): MachineInfo {
  return {
    cpuModel: "Test CPU 9000",
    cores: 2,
    memoryBytes: 8 * 2 ** 30,
    node: "v20.0.0",
    platform: "linux",
    arch: "x64",
    kernel: "6.1.0",
    cpuFlags: ["avx2", "fma"],
    loadAverageStart: [0.5, 0.4, 0.3],
    loadAverageEnd: [1, 0.5, 0.3],
    selected: { choice: "auto", available: true, name: "native", tfBackend: "wasm", detail: "wasm + OpenBLAS kernels", skipped: ["gpu: not installed"] },
    backends: [
      { choice: "gpu", available: false, reason: "tfjs-node-gpu is not installed" },
      { choice: "native", available: true, name: "native", tfBackend: "wasm", detail: "wasm + OpenBLAS kernels" },
      { choice: "cpu", available: true, name: "cpu", tfBackend: "cpu", detail: "pure JavaScript (slow)" },
    ],
    openblas: { available: true, detail: "OpenBLAS 0.3.21; core Haswell" },
  };
}

function fixedResults(): SuiteResults {
  const compute = benchmarkResult("compute", "Compute", new Date("2025-01-01T00:00:00Z"), 65_000, {
    figures: [
      { id: "sgemm", label: "OpenBLAS sgemm 1024³, 1 thread", value: 47.25, unit: "GFLOP/s", detail: "CPU median 45.4 ms" },
      { id: "cnn", label: "native: cnn training", value: 1.35, unit: "GFLOP/s", baseline: { label: "sgemm peak, 1 thread", value: 47.25, unit: "GFLOP/s" }, ratio: 1.35 / 47.25 },
    ],
    targets: [
      target({ id: "compute.cnn", description: "cnn training vs the sgemm peak", measured: 1.35 / 47.25, limitedBy: "per-op overhead | small shapes" }),
      target({ id: "compute.addon", description: "fusion-s training vs the sgemm peak", measured: null, unavailable: "native addon not built" }),
    ],
    tables: [{ title: "FLOPs, cnn", columns: ["layer", "forward MFLOP"], rows: [["conv1", 0.389376], ["total", 0.497536]] }],
    notes: ["Peak: the fastest sgemm run."],
  });
  const wire = benchmarkResult("wire", "Wire", new Date("2025-01-01T00:01:05Z"), 20_000, {
    figures: [{ id: "w", label: "float32 update at the socket", value: 4.007, unit: "MB", baseline: { label: "raw float32 payload", value: 4.004, unit: "MB" }, ratio: 1.0007 }],
    targets: [
      target({ id: "wire.f32", description: "float32 bytes vs raw", measured: 1.0007, unit: "×", op: "<=", threshold: 1.02 }),
      target({ id: "wire.f16", description: "float16 bytes vs raw", measured: null, unit: "×", op: "<=", threshold: 0.52, pending: "encodings not written yet" }),
      target({ id: "tta", description: "dirichlet accuracy", measured: 0.6, unit: "%", op: ">=", threshold: 0.88, notRun: "quick mode" }),
    ],
  });
  return {
    schema: 1,
    mode: "quick",
    only: null,
    command: "npm run bench -- --quick",
    startedAt: "2025-01-01T00:00:00.000Z",
    finishedAt: "2025-01-01T00:07:11.000Z",
    durationMs: 431_000,
    machine: machine(),
    benchmarks: [compute, wire],
  };
}

describe("renderMarkdown", () => {
  const md = renderMarkdown(fixedResults(), "bench/results/2025-01-01T00-00-00Z.json");

  it("states the mode, duration and where the raw results are", () => {
    expect(md.startsWith("# Benchmarks\n")).toBe(true);
    expect(md).toContain("Mode **quick** · started 2025-01-01T00:00:00.000Z · took 7 min 11 s · raw results: `bench/results/2025-01-01T00-00-00Z.json`");
    expect(md.endsWith("\n")).toBe(true);
    expect(md).not.toMatch(/\n{3,}/);
  });

  it("describes the machine, the selected backend and every probed backend", () => {
    expect(md).toContain("| CPU | Test CPU 9000 — 2 cores (avx2, fma) |");
    expect(md).toContain("| Memory | 8.0 GiB |");
    expect(md).toContain("| Node | v20.0.0 (linux x64, kernel 6.1.0) |");
    expect(md).toContain("| tfjs backend (`--backend auto`) | **native** (tfjs `wasm`): wasm + OpenBLAS kernels |");
    expect(md).toContain("| auto skipped | gpu: not installed |");
    expect(md).toContain("| backend `gpu` | not available — tfjs-node-gpu is not installed |");
    expect(md).toContain("| OpenBLAS addon | OpenBLAS 0.3.21; core Haswell |");
  });

  it("summarises every target with its status and, when missed, what limits it", () => {
    expect(md).toContain("1 met, 2 missed, 1 pending, 1 not run in this mode.");
    expect(md).toContain("| compute | cnn training vs the sgemm peak (≥ 25.0%) | 2.86% | ❌ **missed** | per-op overhead \\| small shapes |");
    expect(md).toContain("| compute | fusion-s training vs the sgemm peak (≥ 25.0%) | n/a | ❌ **missed** | native addon not built |");
    expect(md).toContain("| wire | float32 bytes vs raw (≤ 1.02×) | 1.00× | ✅ met |  |");
    expect(md).toContain("| wire | float16 bytes vs raw (≤ 0.520×) | n/a | ⏳ pending | encodings not written yet |");
    expect(md).toContain("| wire | dirichlet accuracy (≥ 88.0%) | 60.0% | — not run | quick mode |");
  });

  it("shows each figure with its in-run baseline and ratio, then tables and notes", () => {
    expect(md).toContain("## 1. Compute");
    expect(md).toContain("| figure | value | in-run baseline | ratio | detail |");
    expect(md).toContain("| OpenBLAS sgemm 1024³, 1 thread | 47.3 GFLOP/s | — | — | CPU median 45.4 ms |");
    expect(md).toContain("| native: cnn training | 1.35 GFLOP/s | sgemm peak, 1 thread: 47.3 GFLOP/s | 0.0286× |  |");
    expect(md).toContain("| float32 update at the socket | 4.01 MB | raw float32 payload: 4.00 MB | 1.00× |  |");
    expect(md).toContain("**FLOPs, cnn**");
    expect(md).toContain("| conv1 | 0.389 |");
    expect(md).toContain("- Peak: the fastest sgemm run.");
    expect(md.indexOf("## 1. Compute")).toBeLessThan(md.indexOf("## 2. Wire"));
  });

  it("is deterministic", () => {
    expect(renderMarkdown(fixedResults(), "x.json")).toBe(renderMarkdown(fixedResults(), "x.json"));
  });

  it("reports a failed benchmark in its section", () => {
    const r = fixedResults();
    r.benchmarks.push(benchmarkResult("scale", "Scale", new Date(0), 1000, null, "scale.js:run ran past its 240 s limit and was killed\nlast output"));
    const text = renderMarkdown(r);
    expect(text).toContain("**The benchmark failed:** scale.js:run ran past its 240 s limit and was killed");
    expect(text).toContain("| scale | Scale: the benchmark completes (≥ 0) | n/a | ❌ **missed** | benchmark failed: scale.js:run ran past its 240 s limit and was killed<br>last output |");
  });
});

describe("FLOP counting", () => {
  const cnn: LayerFlops[] = [
    { kind: "conv2d", name: "conv1", outH: 26, outW: 26, cout: 32, kh: 3, kw: 3, cin: 1, inputGrad: false },
    { kind: "other", name: "pool1", className: "MaxPooling2D" },
    { kind: "other", name: "flatten", className: "Flatten" },
    { kind: "dense", name: "classifier", rows: 1, inputs: 5408, units: 10, inputGrad: true },
  ];

  it("counts conv and dense forward FLOPs as 2 per multiply-add", () => {
    expect(layerForward(cnn[0])).toBe(2 * 26 * 26 * 32 * 3 * 3 * 1);
    expect(layerForward(cnn[3])).toBe(2 * 5408 * 10);
    expect(layerForward(cnn[1])).toBe(0);
  });

  it("counts no input gradient for the first layer and 2× forward elsewhere", () => {
    expect(layerBackward(cnn[0])).toBe(layerForward(cnn[0]));
    expect(layerBackward(cnn[3])).toBe(2 * layerForward(cnn[3]));
    const c = countFlops(cnn);
    expect(c.forward).toBe(389_376 + 108_160);
    expect(c.backward).toBe(389_376 + 216_320);
    expect(c.training).toBe(c.forward + c.backward);
    expect(c.perLayer.map((l) => l.name)).toEqual(["conv1", "classifier"]);
  });

  it("counts an encoder block's projections, attention products and MLP", () => {
    const t = 50;
    const d = 64;
    const h = 128;
    const block: LayerFlops = { kind: "encoder", name: "encoder1", tokens: t, dim: d, hidden: h };
    const expected = 4 * 2 * t * d * d + 2 * t * t * d + 2 * t * t * d + 2 * t * d * h + 2 * t * h * d;
    expect(layerForward(block)).toBe(expected);
    expect(layerBackward(block)).toBe(2 * expected);
  });

  it("dense layers applied per token count every position", () => {
    expect(layerForward({ kind: "dense", name: "token_projection", rows: 49, inputs: 64, units: 64, inputGrad: true })).toBe(2 * 49 * 64 * 64);
  });
});

describe("helpers", () => {
  it("medians and repeat budgets", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(repeatsFor(1000, 100, 3, 25)).toBe(10);
    expect(repeatsFor(1000, 5000, 1, 25)).toBe(1);
    expect(repeatsFor(1000, 1, 3, 25)).toBe(25);
  });

  it("selects benchmarks by name, in suite order, and refuses unknown names", () => {
    expect(selectBenchmarks(null).map((b) => b.name)).toEqual(BENCHMARKS.map((b) => b.name));
    expect(selectBenchmarks(["wire,compute"]).map((b) => b.name)).toEqual(["compute", "wire"]);
    expect(selectBenchmarks(["scale", "overhead"]).map((b) => b.name)).toEqual(["overhead", "scale"]);
    expect(() => selectBenchmarks(["compute,nope"])).toThrow(/unknown benchmark nope/);
  });

  it("every benchmark has a file and limits", () => {
    for (const b of BENCHMARKS) {
      expect(b.file).toMatch(/^[a-zA-Z]+\.js$/);
      expect(b.quickTimeoutMs).toBeGreaterThan(0);
      expect(b.fullTimeoutMs).toBeGreaterThanOrEqual(b.quickTimeoutMs);
    }
  });

  it("sizes cnn for a parameter count", () => {
    expect(cnnParams(10)).toBe(54_410);
    const classes = cnnClassesFor(1_000_000);
    expect(cnnParams(classes)).toBeGreaterThanOrEqual(1_000_000);
    expect(cnnParams(classes - 1)).toBeLessThan(1_000_000);
  });

  it("lands a baseline transfer's bytes whole, in order and checksummed, whatever pieces they come in", () => {
    const bytes = 3 * (1 << 20) + 12_345;
    const data = Uint8Array.from({ length: bytes }, (_, i) => (i * 131 + (i >> 9)) & 0xff);
    const landing = new ModelLanding(bytes);
    const buffers: Uint8Array[] = [];
    for (const piece of [16_384, 65_536, 1 << 20, 7, bytes]) {
      const land = landing.next();
      for (let at = 0; at < bytes; at += piece) land(data.subarray(at, Math.min(bytes, at + piece)));
      expect(Buffer.from(landing.buffer).equals(Buffer.from(data)), `pieces of ${piece}`).toBe(true);
      expect(landing.crc).toBe(checksum().crc32c(data, 0));
      buffers.push(landing.buffer);
    }
    expect(buffers[1]).not.toBe(buffers[0]); // two buffers alternate
    expect(buffers[2]).toBe(buffers[0]);
  });

  it("places a gRPC transfer among its baselines, in MB/s against counting raw TCP", () => {
    const ms = (t: number) => summarize([t], [t], 0);
    // 100 MB: gRPC 80 ms, raw TCP counting 40, landing 50, plain HTTP/2 landing 64.
    const samples = { bytes: 100e6, grpc: ms(80), tcp: ms(40), tcpLanded: ms(50), h2Landed: ms(64) };
    const down = compareTransfer(samples, { id: "transfer.100", mb: 100, direction: "download", label: "download", detail: "d", baselineLabel: "counting" });
    expect([down.grpc, down.tcp]).toEqual([1250, 2500]);
    expect(down.figures.map((f) => [f.id, f.value, f.ratio, f.baseline?.label])).toEqual([
      ["transfer.100", 1250, 0.5, "counting"],
      ["transfer.100.tcpLanded", 2000, 0.8, "counting"],
      ["transfer.100.h2Landed", 1562.5, 0.625, "counting"],
    ]);
    expect(down.figures[0]).toMatchObject({ label: "download", detail: "d", unit: "MB/s" });
    expect(down.figures[1]!.label).toContain("as a download is");
    expect(down.placement).toContain("raw TCP that lands them in one buffer with the CRC-32C, as any download must, 80.0%; plain HTTP/2 (node:http2, no gRPC, the client's receive windows) landing them 62.5%; gRPC 50.0%, i.e. 80.0% of plain HTTP/2.");
    const up = compareTransfer(samples, { id: "upload.100", mb: 100, direction: "upload", label: "upload", detail: "u", baselineLabel: "same" });
    expect(up.figures[1]!.label).toContain("into a sink landing the bytes, 100 MB");
    expect(up.placement).toContain("against a raw TCP sink that only counts the bytes");
    expect(up.placement).toContain("the coordinator's receive windows");
  });

  it("reads round times and the BLAS thread count from a simulate log", () => {
    const log = [
      "06:03:13 simulate     backend native: wasm (SIMD) + 16 native kernels on OpenBLAS 0.3.21, core Haswell (OPENBLAS_CORETYPE=Haswell chosen from /proc/cpuinfo flags), 2 threads + project gradient kernels (skipped: gpu: x)",
      "06:03:15 coordinator  round 1/2  accuracy 77.20%  loss 0.6707  clients 4/4  train-loss 1.1870  up 0.83 MiB  down 0.83 MiB  2.1s",
      "06:03:16 coordinator  round 2/2  accuracy 81.20%  loss 0.5494  clients 4/4  train-loss 0.6726  up 0.83 MiB  down 0.83 MiB  1.5s",
    ].join("\n");
    expect(roundSeconds(log)).toEqual([2.1, 1.5]);
    expect(blasThreads(log)).toBe(2);
    expect(blasThreads(log.replace("2 threads", "1 thread"))).toBe(1);
    expect(blasThreads("06:03:13 simulate     backend wasm: wasm (SIMD) + 7 project gradient kernels")).toBeNull();
  });

  it("finds the first round reaching an accuracy and the training time to it", () => {
    const points = [
      { round: 1, accuracy: 0.7, durationMs: 1000 },
      { round: 2, accuracy: null, durationMs: 1000 },
      { round: 3, accuracy: 0.86, durationMs: 1500 },
      { round: 4, accuracy: 0.89, durationMs: 1500 },
    ];
    expect(firstReaching(points, 0.85)).toEqual({ round: 3, ms: 3500 });
    expect(firstReaching(points, 0.88)).toEqual({ round: 4, ms: 5000 });
    expect(firstReaching(points, 0.9)).toBeNull();
  });
});
