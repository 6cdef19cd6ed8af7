/**
 * The benchmark suite's result model: figures (a measured value with the baseline it was measured against
 * in the same run), targets (a measured quantity, a comparison and a threshold) and the run as a whole.
 * Everything here is pure data and pure functions, except writeResults, so it can be unit-tested.
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { MachineInfo } from "./machine.js";

/** A measured value, and (for ratios) the baseline measured in the same run on the same machine. */
export interface Figure {
  id: string;
  label: string;
  value: number | null;
  unit: string;
  baseline?: { label: string; value: number | null; unit: string };
  /** value / baseline.value, or another ratio the benchmark defines (its note says which). */
  ratio?: number | null;
  /** Spread, sample counts, sizes: context for the reader. */
  detail?: string;
}

export type Comparator = ">=" | "<=" | "<" | ">";

/** What a benchmark reports about one target; evaluateTarget turns it into a verdict. */
export interface TargetInput {
  id: string;
  /** The target in words, e.g. "cnn training ≥ 25% of the sgemm peak (native backend)". */
  description: string;
  /** The quantity compared with the threshold (a ratio as a fraction when unit is "%"). */
  measured: number | null;
  unit: "%" | "×" | "s" | "points" | string;
  op: Comparator;
  threshold: number;
  /** The benchmark's analysis of what limits the figure; shown when the target is missed. */
  limitedBy?: string;
  /** Why the quantity could not be measured at all (e.g. the native addon is not built): the target is missed. */
  unavailable?: string;
  /** The feature the target measures does not exist yet: neither met nor missed. */
  pending?: string;
  /** Not measured in this mode (e.g. quick mode): neither met nor missed. */
  notRun?: string;
  /** Shown in every case, e.g. "extrapolated from 100 and 300 clients". */
  note?: string;
}

export type TargetStatus = "met" | "missed" | "pending" | "not-run";

export interface TargetResult extends TargetInput {
  status: TargetStatus;
  /** For missed / pending / not-run: the reason in one line. */
  why?: string;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
}

export interface BenchmarkOutput {
  figures: Figure[];
  targets: TargetInput[];
  tables?: Table[];
  /** Method notes: how bytes/FLOPs are counted, what each baseline is. */
  notes?: string[];
}

export interface BenchmarkResult {
  name: string;
  title: string;
  startedAt: string;
  durationMs: number;
  figures: Figure[];
  targets: TargetResult[];
  tables: Table[];
  notes: string[];
  /** Set when the benchmark itself failed (crashed, timed out); its targets are then missed. */
  error?: string;
}

export interface SuiteResults {
  schema: 1;
  mode: "quick" | "full";
  only: string[] | null;
  command: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  machine: MachineInfo;
  benchmarks: BenchmarkResult[];
}

export function compare(measured: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case ">=":
      return measured >= threshold;
    case "<=":
      return measured <= threshold;
    case "<":
      return measured < threshold;
    case ">":
      return measured > threshold;
  }
}

/** The verdict on one target: pending and not-run first, then unmeasurable = missed, then the comparison. */
export function evaluateTarget(t: TargetInput): TargetResult {
  if (t.pending !== undefined) return { ...t, status: "pending", why: t.pending };
  if (t.notRun !== undefined) return { ...t, status: "not-run", why: t.notRun };
  if (t.measured === null || !Number.isFinite(t.measured)) {
    return { ...t, status: "missed", why: t.unavailable ?? "not measured" };
  }
  if (compare(t.measured, t.op, t.threshold)) return { ...t, status: "met" };
  return { ...t, status: "missed", why: t.limitedBy ?? "no analysis recorded" };
}

/** A benchmark's output as a result record, with every target evaluated. */
export function benchmarkResult(
  name: string,
  title: string,
  startedAt: Date,
  durationMs: number,
  out: BenchmarkOutput | null,
  error?: string,
): BenchmarkResult {
  const targets = (out?.targets ?? []).map(evaluateTarget);
  if (error !== undefined && targets.length === 0) {
    targets.push({ id: `${name}.ran`, description: `${title}: the benchmark completes`, measured: null, unit: "", op: ">=", threshold: 0, status: "missed", why: `benchmark failed: ${error}` });
  }
  return {
    name,
    title,
    startedAt: startedAt.toISOString(),
    durationMs,
    figures: out?.figures ?? [],
    targets,
    tables: out?.tables ?? [],
    notes: out?.notes ?? [],
    ...(error !== undefined ? { error } : {}),
  };
}

export function ratio(value: number | null | undefined, baseline: number | null | undefined): number | null {
  if (value === null || value === undefined || baseline === null || baseline === undefined) return null;
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return null;
  return value / baseline;
}

/** "2025-01-02T03-04-05Z": an ISO time that is also a portable file name. */
export function timestampName(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** Writes results/<timestamp>.json and, when `latest`, results/latest.json. Returns the timestamped path. */
export async function writeResults(dir: string, results: SuiteResults, latest: boolean): Promise<string> {
  const text = JSON.stringify(results, null, 2) + "\n";
  const file = path.join(dir, `${timestampName(new Date(results.startedAt))}.json`);
  await writeAtomic(file, text);
  if (latest) await writeAtomic(path.join(dir, "latest.json"), text);
  return file;
}

export { writeAtomic };
