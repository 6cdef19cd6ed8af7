/**
 * Benchmark 3, both cores. The real CLI, `node dist/bin/fedfusion.js simulate …`, on a small fixed
 * configuration with `--workers 1` and `--workers 2`; wall time from spawn to exit (process start-up,
 * dataset load and partitioning included, as a user sees it). Reports the speed-up; no target.
 */
import { formatNumber } from "./harness/markdown.js";
import { lastLines, runCommand, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type TargetInput } from "./harness/results.js";
import { median } from "./harness/timing.js";

/** Seconds of round time in a simulate log ("... 12.3s" at the end of each round line). */
export function roundSeconds(output: string): number[] {
  const out: number[] = [];
  for (const line of output.split("\n")) {
    const m = /round \d+\/\d+\s+accuracy .* ([\d.]+)s\s*$/.exec(line);
    if (m) out.push(Number(m[1]));
  }
  return out;
}

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const clients = 4;
  const config = ["simulate", "--model", "cnn", "--clients", String(clients), "--rounds", "3", "--samples", q ? "1000" : "3000", "--test-samples", "1000", "--seed", "7"];
  const repeats = q ? 1 : 3;
  const walls: Record<"1" | "2", number[]> = { "1": [], "2": [] };
  const rounds: Record<"1" | "2", number[]> = { "1": [], "2": [] };
  const errors: string[] = [];
  for (let r = 0; r < repeats; r++) {
    for (const w of r % 2 === 0 ? (["1", "2"] as const) : (["2", "1"] as const)) {
      const res = await runCommand([...config, "--workers", w], { timeoutMs: q ? 120_000 : 600_000 });
      if (res.code !== 0) {
        errors.push(`--workers ${w}: exit ${res.signal ?? res.code}${res.timedOut ? " (timed out)" : ""}: ${lastLines(res.output, 3)}`);
        continue;
      }
      walls[w].push(res.wallMs);
      rounds[w].push(roundSeconds(res.output).reduce((a, b) => a + b, 0) * 1000);
      io.log(`--workers ${w}: ${formatNumber(res.wallMs / 1000)} s`);
    }
  }
  const t1 = walls["1"].length ? median(walls["1"]) : null;
  const t2 = walls["2"].length ? median(walls["2"]) : null;
  const r1 = rounds["1"].length ? median(rounds["1"]) : null;
  const r2 = rounds["2"].length ? median(rounds["2"]) : null;
  const figures: Figure[] = [
    { id: "simulate.workers2", label: `simulate wall time, --workers 2`, value: t2 === null ? null : t2 / 1000, unit: "s", baseline: { label: "--workers 1", value: t1 === null ? null : t1 / 1000, unit: "s" }, ratio: ratio(t1, t2), detail: "ratio = speed-up (time with 1 worker / time with 2)" },
    { id: "simulate.rounds2", label: `time inside rounds (sum of round durations), --workers 2`, value: r2 === null ? null : r2 / 1000, unit: "s", baseline: { label: "--workers 1", value: r1 === null ? null : r1 / 1000, unit: "s" }, ratio: ratio(r1, r2), detail: "excludes start-up, data loading and shutdown" },
  ];
  const targets: TargetInput[] = [];
  const notes = [
    `Command: \`node dist/bin/fedfusion.js ${config.join(" ")} --workers N\` (backend auto), N = 1 and 2, ${repeats === 1 ? "once each" : `${repeats} times each, interleaved; medians`}.`,
    `The machine has ${ctx.machine.cores} cores; the ideal speed-up is ${Math.min(ctx.machine.cores, 2)}×. The coordinator (aggregation, central evaluation) runs in the parent process and shares the cores with the workers; other load on the machine (see the load average) takes cores away from both runs alike.`,
    ...errors.map((e) => `Failed run: ${e}`),
  ];
  return { figures, targets, notes };
}
