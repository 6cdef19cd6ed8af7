import { promises as fs } from "node:fs";
import path from "node:path";
import { compareRunsSvg } from "../../coordinator/charts/runCharts.js";
import type { MetricsDocument } from "../../coordinator/metricsFile.js";
import { UserError } from "../../shared/errors.js";
import { parseCommand } from "../cliOptions.js";

const spec = {
  name: "plot",
  summary: "chart runs side by side (their --out folders or metrics.json files) as an SVG",
  positionals: "RUN...",
  options: {
    metric: { kind: "string", choices: ["accuracy", "loss"], default: "accuracy", help: "what to chart" },
    out: { kind: "string", default: "runs.svg", meta: "FILE", help: "the SVG to write" },
    label: { kind: "list", meta: "NAME", help: "a legend name per run, in order (default: each run's path)" },
  },
} as const;

export async function plotCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const runs = parsed.positionals;
  if (runs.length === 0) throw new UserError("plot: give at least one run (a folder with metrics.json, or the file)");
  const labels = o.label?.length ? o.label : runs;
  if (labels.length !== runs.length) throw new UserError(`plot: ${labels.length} --label for ${runs.length} runs`);
  const docs = await Promise.all(runs.map(readRun));
  let svg: string;
  try {
    svg = compareRunsSvg(docs.map((doc, i) => ({ label: labels[i], doc })), o.metric as "accuracy" | "loss");
  } catch (e) {
    throw new UserError(`plot: ${(e as Error).message}`);
  }
  await fs.writeFile(o.out, svg).catch((e: Error) => Promise.reject(new UserError(`plot: cannot write ${o.out}: ${e.message}`)));
  process.stdout.write(`wrote ${o.out}\n`);
}

/** A run's metrics.json (given, or inside the given folder), checked for the rounds a chart reads. */
async function readRun(run: string): Promise<MetricsDocument> {
  const stat = await fs.stat(run).catch(() => null);
  if (!stat) throw new UserError(`plot: ${run} does not exist`);
  const file = stat.isDirectory() ? path.join(run, "metrics.json") : run;
  const text = await fs.readFile(file, "utf8").catch(() => null);
  if (text === null) throw new UserError(`plot: no metrics.json in ${run}`);
  let doc: MetricsDocument;
  try {
    doc = JSON.parse(text) as MetricsDocument;
  } catch {
    throw new UserError(`plot: ${file} is not valid JSON`);
  }
  const roundsOk = Array.isArray(doc?.rounds) && doc.rounds.every((r) => typeof r?.round === "number");
  if (!roundsOk) throw new UserError(`plot: ${file} is not a fedfusion metrics.json (no list of rounds)`);
  return doc;
}
