import { describe, expect, it } from "vitest";
import { lineChartSvg, niceTicks } from "../../../coordinator/charts/lineChart.js";

const options = { title: "t", xLabel: "round", yLabel: "y" };
const polylines = (svg: string) => [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1].split(" ").map((p) => p.split(",").map(Number)));
const tickLabels = (svg: string, anchor: "middle" | "end") => [...svg.matchAll(new RegExp(`<text x="[^"]*" y="[^"]*" text-anchor="${anchor}">([^<]*)</text>`, "g"))].map((m) => m[1]);

describe("lineChartSvg", () => {
  it("draws one line per unbroken run of points, higher values higher up, left to right", () => {
    const svg = lineChartSvg([{ name: "a", points: [[1, 0.1], [2, 0.5], [3, null], [4, 0.2], [5, 0.9]] }], options);
    expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    const [first, second] = polylines(svg);
    expect(polylines(svg)).toHaveLength(2); // the null breaks the line
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(2);
    expect(first[1][0]).toBeGreaterThan(first[0][0]);
    expect(first[1][1]).toBeLessThan(first[0][1]); // SVG's y grows downwards
    expect(second[1][1]).toBeLessThan(second[0][1]);
  });

  it("labels every series in the legend, escaped, and keeps whole-number x axes whole", () => {
    const svg = lineChartSvg(
      [
        { name: "fedavg <iid> & co", points: [[1, 2], [2, 3], [3, 4]] },
        { name: "krum", points: [[1, 1], [2, 5], [3, 2]] },
      ],
      options,
    );
    expect(svg).toContain(">fedavg &lt;iid&gt; &amp; co</text>");
    expect(svg).toContain(">krum</text>");
    expect(tickLabels(svg, "middle").filter((l) => /^[\d.]+$/.test(l))).toEqual(["1", "2", "3"]);
  });

  it("formats y ticks as asked and stays inside the clamp", () => {
    const svg = lineChartSvg([{ name: "acc", points: [[1, 0.2], [2, 1]] }], { ...options, formatY: (y) => `${Math.round(100 * y)}%`, clampY: [0, 1] });
    const labels = tickLabels(svg, "end");
    expect(labels.length).toBeGreaterThanOrEqual(3);
    expect(labels.every((l) => /^\d+%$/.test(l))).toBe(true);
    expect(Math.max(...labels.map((l) => parseInt(l)))).toBeLessThanOrEqual(100);
  });

  it("dashes a series marked as a bound, in its line and its legend", () => {
    const svg = lineChartSvg([{ name: "a", points: [[1, 1], [2, 2]] }, { name: "max", points: [[1, 2], [2, 3]], dashed: true }], options);
    expect(svg.match(/stroke-dasharray/g)).toHaveLength(2);
  });

  it("plots a single point, and refuses a chart with no finite value at all", () => {
    expect(lineChartSvg([{ name: "one", points: [[1, 0.5]] }], options)).toMatch(/<circle /);
    expect(() => lineChartSvg([{ name: "none", points: [[1, null], [2, NaN]] }], options)).toThrow("chart 't': no data to plot");
  });
});

describe("niceTicks", () => {
  it("picks steps of 1, 2 or 5 times a power of ten inside the range", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.83, 0.91, 4)).toEqual([0.84, 0.86, 0.88, 0.9]);
    expect(niceTicks(-3, 47, 5)).toEqual([0, 10, 20, 30, 40]);
  });
});
