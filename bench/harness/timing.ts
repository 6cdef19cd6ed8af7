/**
 * Timing: warm-up runs, then the median of N. Comparisons are measured interleaved (A B A B …) so that
 * a noisy neighbour slows both sides alike rather than whichever ran second.
 *
 * Every timed run records wall time and this process's CPU time (user + system, all its threads). On a
 * shared, oversubscribed machine the wall time of single-threaded work mostly measures the neighbours
 * (a run can wait for a core longer than it computes), so single-threaded, in-process figures are quoted
 * in CPU time; anything spanning processes or waiting on I/O is quoted in wall time.
 */
import { performance } from "node:perf_hooks";

export interface Stats {
  /** Milliseconds. */
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** Wall-time statistics at the top level, CPU time under `cpu`. */
export interface Sample extends Stats {
  cpu: Stats;
  warmup: number;
}

export type Clock = "wall" | "cpu";

export function stat(s: Sample, clock: Clock): Stats {
  return clock === "cpu" ? s.cpu : s;
}

/** Milliseconds of CPU this process has used (user + system). */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function stats(samples: number[]): Stats {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples };
}

export function summarize(wall: number[], cpu: number[], warmup: number): Sample {
  return { ...stats(wall), cpu: stats(cpu), warmup };
}

export type Timed = () => unknown | Promise<unknown>;

export interface Timing {
  wall: number;
  cpu: number;
}

/** Wall and CPU milliseconds one call takes. */
export async function timeBoth(fn: Timed): Promise<Timing> {
  const c0 = cpuNow();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  return { wall, cpu: cpuNow() - c0 };
}

/** Milliseconds one call takes, on the given clock (wall by default). */
export async function timeOnce(fn: Timed, clock: Clock = "wall"): Promise<number> {
  const t = await timeBoth(fn);
  return clock === "cpu" ? t.cpu : t.wall;
}

export interface MeasureOptions {
  warmup?: number;
  repeats: number;
}

/** Runs `fn` warmup times untimed, then `repeats` times timed; the median is the figure. */
export async function measure(fn: Timed, o: MeasureOptions): Promise<Sample> {
  const warmup = o.warmup ?? 1;
  for (let i = 0; i < warmup; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < Math.max(1, o.repeats); i++) {
    const t = await timeBoth(fn);
    wall.push(t.wall);
    cpu.push(t.cpu);
  }
  return summarize(wall, cpu, warmup);
}

/**
 * Several functions measured round-robin: each warmed up, then repeat r runs every function once, in an
 * order that alternates between repeats (A B, B A, …) so neither side always runs on a warmer machine.
 * `before` (untimed) runs ahead of every timed call, e.g. to reset state.
 */
export async function measureInterleaved<K extends string>(
  fns: Record<K, Timed>,
  o: MeasureOptions & { before?: (key: K) => unknown | Promise<unknown> },
): Promise<Record<K, Sample>> {
  const keys = Object.keys(fns) as K[];
  const warmup = o.warmup ?? 1;
  for (let i = 0; i < warmup; i++) {
    for (const k of keys) {
      await o.before?.(k);
      await fns[k]();
    }
  }
  const wall = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  const cpu = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < Math.max(1, o.repeats); r++) {
    const order = r % 2 === 0 ? keys : [...keys].reverse();
    for (const k of order) {
      await o.before?.(k);
      const t = await timeBoth(fns[k]);
      wall[k].push(t.wall);
      cpu[k].push(t.cpu);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, summarize(wall[k], cpu[k], warmup)])) as Record<K, Sample>;
}

/** How many repeats fit a time budget, given one run's duration, within [min, max]. */
export function repeatsFor(budgetMs: number, oneRunMs: number, min: number, max: number): number {
  const n = Math.floor(budgetMs / Math.max(oneRunMs, 1e-3));
  return Math.max(min, Math.min(max, n));
}

/** "CPU median 12.3 ms (min 11.9, max 13.0; n=5; wall median 20.1 ms)". */
export function describeSample(s: Sample, clock: Clock = "wall"): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const main = stat(s, clock);
  const other = clock === "cpu" ? `; wall median ${f(s.median)} ms` : "";
  return `${clock === "cpu" ? "CPU" : "wall"} median ${f(main.median)} ms (min ${f(main.min)}, max ${f(main.max)}; n=${main.samples.length}${other})`;
}
