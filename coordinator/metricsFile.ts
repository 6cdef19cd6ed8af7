/**
 * metrics.json: the run's configuration, one record per round and the final evaluation, with its charts.
 * Rewritten after every round (atomically), so a crashed or interrupted run still leaves the rounds it
 * completed, and a long run can be watched.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { writeFileAtomically } from "../shared/atomicFile.js";
import { runChartSvg, siteChartSvg } from "./charts/runCharts.js";
import type { FederatedEvaluation, RoundRecord } from "./rounds/types.js";

export interface MetricsDocument {
  config: Record<string, unknown>;
  rounds: RoundRecord[];
  final: {
    accuracy: number | null;
    loss: number | null;
    modelVersion: number;
    /** The clients' evaluation of the final model on their held-out data (simulate and coordinator runs). */
    federatedEvaluation?: FederatedEvaluation | null;
  } | null;
}

/** metrics.json, and its charts (accuracy.svg, loss.svg; sites.svg, a line per site) once a round has data. */
export async function writeMetrics(outDir: string, doc: MetricsDocument): Promise<void> {
  await fs.mkdir(outDir, { recursive: true });
  await writeFileAtomically(path.join(outDir, "metrics.json"), JSON.stringify(doc, null, 2) + "\n");
  const charts = { accuracy: runChartSvg(doc, "accuracy"), loss: runChartSvg(doc, "loss"), sites: siteChartSvg(doc) };
  for (const [name, svg] of Object.entries(charts)) if (svg) await writeFileAtomically(path.join(outDir, `${name}.svg`), svg);
}

