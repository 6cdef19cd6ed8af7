/**
 * The accuracy cost of lossy update encodings (part of benchmark 5, wire): the same `fedfusion simulate`
 * run (cnn, 10 clients IID, seeded) with float32, float16, int8 and top-k 1% updates (error feedback on),
 * compared by final test accuracy and by the round in which each first reaches the float32 run's final
 * accuracy less half a point. The partition, initial weights and sampling are the same in every run, so the
 * encoding is the only difference.
 */
import path from "node:path";
import { formatNumber } from "./harness/markdown.js";
import { lastLines, runCommand } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import type { Table } from "./harness/results.js";
import { readMetrics } from "./timeToAccuracy.js";

const ENCODINGS = ["float32", "float16", "int8", "topk:0.01"];
const SLACK = 0.005;

export async function encodingAccuracy(ctx: BenchContext, log: (l: string) => void): Promise<{ table: Table; note: string }> {
  const rounds = ctx.quick ? 5 : 10;
  const samples = ctx.quick ? 300 : 2000;
  const rows: { encoding: string; points: (number | null)[]; final: number | null; error?: string }[] = [];
  let command = "";
  for (const encoding of ENCODINGS) {
    const out = path.join(ctx.tmpDir, `encoding-${encoding.replace(/[^a-z0-9.]/gi, "_")}`);
    const args = ["simulate", "--model", "cnn", "--clients", "10", "--rounds", String(rounds), "--samples", String(samples), "--test-samples", "2000", "--seed", "42", "--update-encoding", encoding];
    command = `fedfusion ${args.slice(0, -2).join(" ")} --update-encoding E`;
    const res = await runCommand([...args, "--out", out], { timeoutMs: ctx.quick ? 180_000 : 900_000 });
    if (res.code !== 0) {
      rows.push({ encoding, points: [], final: null, error: `exit ${res.signal ?? res.code}: ${lastLines(res.output, 1)}` });
      continue;
    }
    const m = await readMetrics(out);
    rows.push({ encoding, points: m.points.map((p) => p.accuracy), final: m.final });
    log(`encoding ${encoding}: final ${formatNumber(100 * (m.final ?? NaN))}%`);
  }
  const reference = rows.find((r) => r.encoding === "float32")?.final ?? null;
  const goal = reference === null ? null : reference - SLACK;
  const reached = (pts: (number | null)[]) => (goal === null ? null : pts.findIndex((a) => a !== null && a >= goal) + 1 || null);
  return {
    table: {
      title: `Accuracy cost of the update encodings (cnn, 10 clients IID × ${samples} examples, ${rounds} rounds, 2000 test images)`,
      columns: ["encoding", "final test accuracy", "vs float32 (points)", `first round ≥ float32's final − ${SLACK * 100} point`, "accuracy by round"],
      rows: rows.map((r) =>
        r.error
          ? [r.encoding, `failed: ${r.error}`, null, null, null]
          : [
              r.encoding,
              r.final === null ? null : `${formatNumber(100 * r.final)}%`,
              r.final === null || reference === null ? null : (100 * (r.final - reference)).toFixed(2),
              String(reached(r.points) ?? `not within ${rounds}`),
              r.points.map((a) => (a === null ? "–" : formatNumber(100 * a))).join(", "),
            ],
      ),
    },
    note: `Encoding accuracy cost: \`${command}\` with E = ${ENCODINGS.join(", ")} (lossy encodings carry what they drop to the next round through client-side error feedback); everything else is seeded and identical, so the encoding is the only difference.`,
  };
}
