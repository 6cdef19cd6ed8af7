/**
 * The accuracy cost of lossy encodings (part of benchmark 5, wire): the same `fedfusion simulate` run (cnn,
 * 10 clients IID, seeded) with float32, float16, int8 and top-k updates (error feedback on), and with the
 * global model sent down as float16 or int8, compared by final test accuracy, by the round in which each
 * first reaches the float32 run's final accuracy less half a point, and by the bytes each round moved. The
 * partition, initial weights and sampling are the same in every run, so the encoding is the only difference.
 */
import path from "node:path";
import { MB } from "./harness/fixtures.js";
import { formatNumber } from "./harness/markdown.js";
import { lastLines, runCommand } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import type { Table } from "./harness/results.js";
import { median } from "./harness/timing.js";
import { readMetrics } from "./timeToAccuracy.js";

/** [direction, encoding]: the first is the reference. */
const RUNS = [
  ["update", "float32"],
  ["update", "float16"],
  ["update", "int8"],
  ["update", "topk:0.1"],
  ["update", "topk:0.01"],
  ["download", "float16"],
  ["download", "int8"],
] as const;
const SLACK = 0.005;

export async function encodingAccuracy(ctx: BenchContext, log: (l: string) => void): Promise<{ table: Table; note: string }> {
  const rounds = ctx.quick ? 5 : 10;
  const samples = ctx.quick ? 300 : 2000;
  const rows: { label: string; points: (number | null)[]; final: number | null; up: number; down: number; error?: string }[] = [];
  let command = "";
  for (const [direction, encoding] of RUNS) {
    const label = `${direction} ${encoding}`;
    const out = path.join(ctx.tmpDir, `encoding-${direction}-${encoding.replace(/[^a-z0-9.]/gi, "_")}`);
    const args = ["simulate", "--model", "cnn", "--clients", "10", "--rounds", String(rounds), "--samples", String(samples), "--test-samples", "2000", "--seed", "42", `--${direction}-encoding`, encoding];
    command = `fedfusion ${args.slice(0, -2).join(" ")}`;
    const res = await runCommand([...args, "--out", out], { timeoutMs: ctx.quick ? 180_000 : 900_000 });
    if (res.code !== 0) {
      rows.push({ label, points: [], final: null, up: NaN, down: NaN, error: `exit ${res.signal ?? res.code}: ${lastLines(res.output, 1)}` });
      continue;
    }
    const m = await readMetrics(out);
    rows.push({ label, points: m.points.map((p) => p.accuracy), final: m.final, up: median(m.bytes.map((b) => b.up)), down: median(m.bytes.map((b) => b.down)) });
    log(`${label}: final ${formatNumber(100 * (m.final ?? NaN))}%`);
  }
  const reference = rows[0]?.final ?? null;
  const goal = reference === null ? null : reference - SLACK;
  const reached = (pts: (number | null)[]) => (goal === null ? null : pts.findIndex((a) => a !== null && a >= goal) + 1 || null);
  return {
    table: {
      title: `Accuracy cost of the encodings (cnn, 10 clients IID × ${samples} examples, ${rounds} rounds, 2000 test images)`,
      columns: ["encoding", "MB up / round", "MB down / round", "final test accuracy", "vs float32 (points)", `first round ≥ float32's final − ${SLACK * 100} point`, "accuracy by round"],
      rows: rows.map((r) =>
        r.error
          ? [r.label, null, null, `failed: ${r.error}`, null, null, null]
          : [
              r.label,
              r.up / MB,
              r.down / MB,
              r.final === null ? null : `${formatNumber(100 * r.final)}%`,
              r.final === null || reference === null ? null : (100 * (r.final - reference)).toFixed(2),
              String(reached(r.points) ?? `not within ${rounds}`),
              r.points.map((a) => (a === null ? "–" : formatNumber(100 * a))).join(", "),
            ],
      ),
    },
    note: `Encoding accuracy cost: \`${command} --update-encoding E\` with E = ${RUNS.filter(([d]) => d === "update").map(([, e]) => e).join(", ")} (lossy update encodings carry what they drop to the next round through client-side error feedback), and \`--download-encoding D\` with D = ${RUNS.filter(([d]) => d === "download").map(([, e]) => e).join(", ")} (clients train from the rounded model; the coordinator applies their deltas to its float32 weights); everything else is seeded and identical, so the encoding is the only difference.`,
  };
}
