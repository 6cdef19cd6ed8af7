/**
 * metrics.json: the run's configuration, one record per round and the final evaluation. Rewritten after
 * every round (atomically), so a crashed or interrupted run still leaves the rounds it completed.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
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

export async function writeMetrics(outDir: string, doc: MetricsDocument): Promise<void> {
  await fs.mkdir(outDir, { recursive: true });
  const file = path.join(outDir, "metrics.json");
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(doc, null, 2) + "\n");
  await fs.rename(tmp, file);
}
