import type { FederatedEvaluation, SiteEvaluation } from "./types.js";

/**
 * The sites' evaluations of one global model, weighted by their example counts, with the spread between
 * sites kept (min, max, and every site's own figures): an average can hide a site the model fails.
 */
export function summariseEvaluations(version: number, evals: Map<string, SiteEvaluation>): FederatedEvaluation | null {
  if (evals.size === 0) return null;
  let examples = 0;
  let loss = 0;
  let accuracy = 0;
  let minAccuracy = Infinity;
  let maxAccuracy = -Infinity;
  const sites: FederatedEvaluation["sites"] = {};
  for (const [site, e] of [...evals].sort(([a], [b]) => a.localeCompare(b))) {
    examples += e.examples;
    loss += e.loss * e.examples;
    accuracy += e.accuracy * e.examples;
    minAccuracy = Math.min(minAccuracy, e.accuracy);
    maxAccuracy = Math.max(maxAccuracy, e.accuracy);
    sites[site] = { examples: e.examples, loss: e.loss, accuracy: e.accuracy };
  }
  return { modelVersion: version, loss: loss / examples, accuracy: accuracy / examples, examples, minAccuracy, maxAccuracy, sites };
}
