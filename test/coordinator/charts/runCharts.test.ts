import { describe, expect, it } from "vitest";
import { compareRunsSvg, MAX_SITE_LINES, runChartSvg, siteChartSvg } from "../../../coordinator/charts/runCharts.js";
import type { MetricsDocument } from "../../../coordinator/metricsFile.js";
import type { RoundRecord } from "../../../coordinator/rounds/types.js";

const held = (accuracy: number, modelVersion: number) => ({ modelVersion, loss: 1 - accuracy, accuracy, examples: 10, minAccuracy: accuracy, maxAccuracy: accuracy, sites: {} });
const round = (r: number, accuracy: number | null): RoundRecord => ({
  round: r, modelVersion: r, accuracy, loss: accuracy === null ? null : 1 - accuracy, clients: 2, selected: 2, rejected: {},
  federatedEvaluation: held(0.1 * r, r - 1), trainLoss: 0.5, trainAccuracy: 0.6, bytesUp: 0, bytesDown: 0, durationMs: 1,
});
const doc = (rounds: RoundRecord[], command = "simulate"): MetricsDocument => ({
  config: { command }, rounds, final: { accuracy: rounds.at(-1)?.accuracy ?? null, loss: null, modelVersion: rounds.length, federatedEvaluation: held(0.9, rounds.length) },
});
const legend = (svg: string) => [...svg.matchAll(/<text x="[^"]*" y="[^"]*">([^<]*)<\/text>/g)].map((m) => m[1]);
const lines = (svg: string) => [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1].split(" ").length);

describe("run charts", () => {
  it("chart the test set, the sites' held-out evaluations (one round earlier, plus the final one) and local training", () => {
    const svg = runChartSvg(doc([round(1, 0.5), round(2, 0.7), round(3, 0.8)]), "accuracy")!;
    expect(legend(svg)).toEqual(["test set (coordinator)", "held-out data (sites)", "local training (sites)"]);
    // held-out: before rounds 1–3 (x = 0, 1, 2) and the final model (x = 3)
    expect(lines(svg)).toEqual([3, 4, 3]);
  });

  it("show the worst and the best site's held-out accuracy where at least two sites reported", () => {
    const twoSites = (r: RoundRecord): RoundRecord => ({
      ...r,
      federatedEvaluation: { ...r.federatedEvaluation!, minAccuracy: 0.2, maxAccuracy: 0.9, sites: { a: { examples: 5, loss: 1, accuracy: 0.2 }, b: { examples: 5, loss: 1, accuracy: 0.9 } } },
    });
    const svg = runChartSvg(doc([twoSites(round(1, 0.5)), twoSites(round(2, 0.7))]), "accuracy")!;
    expect(legend(svg).slice(3)).toEqual(["worst site (held-out)", "best site (held-out)"]);
    expect(lines(svg).slice(3)).toEqual([3, 3]);
    expect(legend(runChartSvg(doc([twoSites(round(1, 0.5))]), "loss")!)).not.toContain("worst site (held-out)");
  });

  it("name a centralized run's series and axis as such", () => {
    const svg = runChartSvg(doc([round(1, 0.5), round(2, 0.7)], "train"), "loss")!;
    expect(legend(svg)).toEqual(["test set", "held-out data (sites)", "training"]);
    expect(svg).toContain(">Loss per epoch</text>");
  });

  it("leave out what a run did not measure, and wait for a first round", () => {
    expect(legend(runChartSvg(doc([round(1, null), round(2, null)]), "loss")!)).toEqual(["held-out data (sites)", "local training (sites)"]);
    expect(runChartSvg(doc([]), "accuracy")).toBeNull();
  });

  it("compare runs by their test curves, or the sites' where a run had no test set, and name a centralized axis", () => {
    const svg = compareRunsSvg(
      [
        { label: "fedavg", doc: doc([round(1, 0.5), round(2, 0.6)]) },
        { label: "no test set", doc: doc([round(1, null), round(2, null)]) },
        { label: "centralized", doc: doc([round(1, 0.7), round(2, 0.8)], "train") },
      ],
      "accuracy",
    );
    expect(legend(svg)).toEqual(["fedavg", "no test set (sites' held-out)", "centralized"]);
    expect(svg).toContain(">round (epoch, for centralized training)</text>");
    expect(() => compareRunsSvg([{ label: "empty", doc: doc([]) }], "loss")).toThrow("no loss to plot in empty");
  });

  it("draw each site's held-out accuracy, a line per site in name order (the ninth on dashed), with a gap where a site did not report", () => {
    const names = ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10"]; // in number order, not "s1", "s10", "s2"
    const withSites = (r: RoundRecord, skip?: string): RoundRecord => ({
      ...r,
      federatedEvaluation: { ...r.federatedEvaluation!, sites: Object.fromEntries(names.filter((n) => n !== skip).map((n, i) => [n, { examples: 5, loss: 1, accuracy: 0.05 * i + 0.01 * r.round }])) },
    });
    const svg = siteChartSvg(doc([withSites(round(1, 0.5)), withSites(round(2, 0.6), "s2"), withSites(round(3, 0.7))]))!;
    expect(legend(svg)).toEqual(names);
    // held-out points at x = 0, 1, 2 (the doc's final evaluation names no site): s2 missed round 2 (x = 1)
    expect(lines(svg)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 3]); // s2: two lone points, no line
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(4); // the ninth and tenth sites' lines and legend entries
    expect(svg).toContain(">Each site's held-out accuracy</text>");
  });

  it("draw no site chart for fewer than two sites or more than it can tell apart", () => {
    const sites = (n: number) => (r: RoundRecord): RoundRecord => ({
      ...r,
      federatedEvaluation: { ...r.federatedEvaluation!, sites: Object.fromEntries(Array.from({ length: n }, (_, i) => [`site-${i}`, { examples: 5, loss: 1, accuracy: 0.5 }])) },
    });
    expect(siteChartSvg(doc([sites(1)(round(1, 0.5))]))).toBeNull();
    expect(siteChartSvg(doc([sites(MAX_SITE_LINES + 1)(round(1, 0.5))]))).toBeNull();
    expect(siteChartSvg(doc([sites(MAX_SITE_LINES)(round(1, 0.5))]))).not.toBeNull();
  });
});
