/** The benchmarks, in the order they run. Each is a file under bench/ exporting `run(ctx, io)`. */
import { NODE_FLAGS } from "../../shared/nodeFlags.js";
import type { MachineInfo } from "./machine.js";

export interface BenchContext {
  quick: boolean;
  machine: MachineInfo;
  /** A scratch directory for this run, removed at the end. */
  tmpDir: string;
}

export interface BenchmarkEntry {
  name: string;
  /** Compiled file under dist/bench/. */
  file: string;
  title: string;
  /** Node flags for the benchmark's child: the wire benchmark's child plays the client, so it runs as `fedfusion client` does. */
  nodeFlags?: readonly string[];
  /** Hard limits; the benchmark's child is killed when it passes. */
  quickTimeoutMs: number;
  fullTimeoutMs: number;
}

const MIN = 60_000;

export const BENCHMARKS: readonly BenchmarkEntry[] = [
  { name: "compute", file: "compute.js", title: "Compute: sgemm peak, tfjs matMul and training GFLOP/s", quickTimeoutMs: 4 * MIN, fullTimeoutMs: 40 * MIN },
  { name: "gpu", file: "gpu.js", title: "GPU: the cuda backend's cuBLAS products and training", quickTimeoutMs: 12 * MIN, fullTimeoutMs: 40 * MIN },
  { name: "overhead", file: "federatedOverhead.js", title: "Federated overhead: SiteTrainer.train vs model.fit", quickTimeoutMs: 3 * MIN, fullTimeoutMs: 30 * MIN },
  { name: "cores", file: "bothCores.js", title: "Both cores: `fedfusion simulate` with worker processes vs BLAS threads", quickTimeoutMs: 5 * MIN, fullTimeoutMs: 30 * MIN },
  { name: "aggregation", file: "aggregation.js", title: "Aggregation at memory speed and coordinator memory", quickTimeoutMs: 5 * MIN, fullTimeoutMs: 30 * MIN },
  { name: "wire", file: "wire.js", title: "Wire: bytes per update and gRPC transfer throughput", nodeFlags: NODE_FLAGS, quickTimeoutMs: 3 * MIN, fullTimeoutMs: 30 * MIN },
  { name: "scale", file: "coordinatorScale.js", title: "Coordinator scale: CPU per round and RSS with many clients", quickTimeoutMs: 4 * MIN, fullTimeoutMs: 60 * MIN },
  { name: "accuracy", file: "timeToAccuracy.js", title: "Time to accuracy on Fashion-MNIST", quickTimeoutMs: 3 * MIN, fullTimeoutMs: 16 * 60 * MIN },
];

export function benchmarkNames(): string[] {
  return BENCHMARKS.map((b) => b.name);
}

/** The entries named in `only` (comma lists allowed), in suite order; throws on an unknown name. */
export function selectBenchmarks(only: readonly string[] | null): BenchmarkEntry[] {
  if (!only || only.length === 0) return [...BENCHMARKS];
  const wanted = only.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !BENCHMARKS.some((b) => b.name === w));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(", ")}: expected ${benchmarkNames().join(", ")}`);
  return BENCHMARKS.filter((b) => wanted.includes(b.name));
}
