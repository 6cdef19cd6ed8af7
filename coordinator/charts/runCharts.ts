/**
 * Charts of runs from their metrics.json: a run's accuracy and loss per round as the coordinator sees them
 * (test set), as the sites see them (held-out data) and during local training; and several runs side by side
 * (`fedfusion plot`), e.g. strategies, partitions or a centralized baseline against a federation.
 */
import type { MetricsDocument } from "../metricsFile.js";
import type { FederatedEvaluation } from "../rounds/types.js";
import { lineChartSvg, type Series } from "./lineChart.js";

export type ChartMetric = "accuracy" | "loss";

const percent = (y: number) => `${Number((100 * y).toPrecision(4))}%`;

function chartOptions(metric: ChartMetric, title: string, xLabel = "round") {
  return metric === "accuracy"
    ? { title, xLabel, yLabel: "accuracy", formatY: percent, clampY: [0, 1] as const }
    : { title, xLabel, yLabel: "loss (cross-entropy)", clampY: [0, Infinity] as const };
}

/** The coordinator's evaluation on its test set, after each round. */
function testSeries(doc: MetricsDocument, metric: ChartMetric): Series["points"] {
  return doc.rounds.map((r) => [r.round, r[metric]] as const);
}

/**
 * The sites' evaluation on their held-out data. A round's is of the model it started from (the one after the
 * previous round), so it sits one round earlier; the final evaluation is of the last model.
 */
function heldOutSeries(doc: MetricsDocument, value: (e: FederatedEvaluation) => number | null): Series["points"] {
  const points = doc.rounds.map((r) => [r.round - 1, r.federatedEvaluation ? value(r.federatedEvaluation) : null] as const);
  const last = doc.rounds.at(-1);
  const final = doc.final?.federatedEvaluation;
  return last && final ? [...points, [last.round, value(final)] as const] : points;
}

/** The worst and the best site's held-out accuracy: how evenly the model serves the sites (non-IID runs). */
function siteSpread(doc: MetricsDocument): Series[] {
  const sites = Math.max(0, ...doc.rounds.map((r) => Object.keys(r.federatedEvaluation?.sites ?? {}).length));
  if (sites < 2) return [];
  return [
    { name: "worst site (held-out)", points: heldOutSeries(doc, (e) => e.minAccuracy), dashed: true },
    { name: "best site (held-out)", points: heldOutSeries(doc, (e) => e.maxAccuracy), dashed: true },
  ];
}

/** The clients' own loss and accuracy while training locally (averaged over the round's examples). */
function trainingSeries(doc: MetricsDocument, metric: ChartMetric): Series["points"] {
  return doc.rounds.map((r) => [r.round, metric === "accuracy" ? r.trainAccuracy : r.trainLoss] as const);
}

const hasData = (s: Series) => s.points.some((p) => p[1] !== null && Number.isFinite(p[1]));

/** One run's chart of `metric`; null while it has no round with data. */
export function runChartSvg(doc: MetricsDocument, metric: ChartMetric): string | null {
  const centralized = isCentralized(doc);
  const series = [
    { name: centralized ? "test set" : "test set (coordinator)", points: testSeries(doc, metric) },
    { name: "held-out data (sites)", points: heldOutSeries(doc, (e) => e[metric]) },
    { name: centralized ? "training" : "local training (sites)", points: trainingSeries(doc, metric) },
    ...(metric === "accuracy" ? siteSpread(doc) : []),
  ].filter(hasData);
  if (series.length === 0) return null;
  const title = `${metric === "accuracy" ? "Accuracy" : "Loss"} per ${centralized ? "epoch" : "round"}`;
  return lineChartSvg(series, chartOptions(metric, title, centralized ? "epoch" : "round"));
}

/** Beyond this many sites a line each is unreadable (8 colours, solid then dashed): accuracy.svg's spread remains. */
export const MAX_SITE_LINES = 16;

/**
 * Each site's held-out accuracy, a line per site: which sites a non-IID federation serves well and which it
 * leaves behind, and whether that changes over the rounds. Null with fewer than two sites or more than
 * MAX_SITE_LINES, or before any site has reported.
 */
export function siteChartSvg(doc: MetricsDocument): string | null {
  const names = [...new Set([...doc.rounds.map((r) => r.federatedEvaluation), doc.final?.federatedEvaluation].flatMap((e) => Object.keys(e?.sites ?? {})))].sort(byNameAndNumber);
  if (names.length < 2 || names.length > MAX_SITE_LINES) return null;
  const series = names.map((name, i) => ({
    name,
    points: heldOutSeries(doc, (e) => e.sites[name]?.accuracy ?? null), // null: a gap, where the site did not report
    dashed: i >= 8,
  }));
  return lineChartSvg(series, chartOptions("accuracy", "Each site's held-out accuracy"));
}

/** site-2 before site-10. */
const byNameAndNumber = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

/** `fedfusion train`'s metrics: one "round" per epoch, no sites. */
const isCentralized = (doc: MetricsDocument) => doc.config?.command === "train";

/** Runs side by side: each run's test-set curve, or its sites' held-out curve where it had no test set. */
export function compareRunsSvg(runs: readonly { label: string; doc: MetricsDocument }[], metric: ChartMetric): string {
  const series = runs.map(({ label, doc }) => {
    const test = { name: label, points: testSeries(doc, metric) };
    return hasData(test) ? test : { name: `${label} (sites' held-out)`, points: heldOutSeries(doc, (e) => e[metric]) };
  });
  const empty = runs.filter((_, i) => !hasData(series[i])).map((r) => r.label);
  if (empty.length > 0) throw new Error(`no ${metric} to plot in ${empty.join(", ")}`);
  const centralized = runs.some((r) => isCentralized(r.doc));
  const title = `${metric === "accuracy" ? "Test accuracy" : "Test loss"} per round`;
  return lineChartSvg(series, chartOptions(metric, title, centralized ? "round (epoch, for centralized training)" : "round"));
}
