/**
 * A line chart as a standalone SVG document: what a researcher opens in a browser or drops into a paper,
 * with no plotting library to install. Pure: series in, SVG text out.
 */

export interface Series {
  name: string;
  /** [x, y] pairs; a null y is a gap (the line breaks there). */
  points: readonly (readonly [number, number | null])[];
  /** Drawn dashed: a bound or a spread rather than a measurement of its own. */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Tick label of a y value, e.g. as a percentage. */
  formatY?: (y: number) => string;
  /** The y axis covers at least this range, and never goes beyond `clampY`. */
  clampY?: readonly [number, number];
}

// Okabe–Ito: told apart by readers with any common colour-vision deficiency.
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { left: 70, right: 200, top: 44, bottom: 56 };

/** An SVG document; throws when no series has a single finite point. */
export function lineChartSvg(series: readonly Series[], o: ChartOptions): string {
  const finite = series.flatMap((s) => s.points.filter((p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[1]) && Number.isFinite(p[0])));
  if (finite.length === 0) throw new Error(`chart '${o.title}': no data to plot`);
  const format = o.formatY ?? ((y: number) => formatTick(y));
  const xs = finite.map((p) => p[0]);
  const ys = finite.map((p) => p[1]);
  const [x0, x1] = padRange(Math.min(...xs), Math.max(...xs));
  let [y0, y1] = padRange(Math.min(...ys), Math.max(...ys));
  if (o.clampY) [y0, y1] = [Math.max(y0, o.clampY[0]), Math.min(y1, o.clampY[1])];
  // Rounds and epochs are whole numbers: no tick between two of them.
  const xTicks = niceTicks(x0, x1, 8).filter((t) => Number.isInteger(t) || !xs.every(Number.isInteger));
  const yTicks = niceTicks(y0, y1, 6);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;
  const n = (v: number) => v.toFixed(1);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(o.title)}</text>`,
  ];
  for (const t of yTicks) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${n(sy(t))}" y2="${n(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${n(sy(t) + 4)}" text-anchor="end">${escapeXml(format(t))}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${n(sx(t))}" x2="${n(sx(t))}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333"/>`);
    out.push(`<text x="${n(sx(t))}" y="${MARGIN.top + plotH + 19}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);

  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const shown = s.points.filter((p) => p[1] === null || (p[1] >= y0 && p[1] <= y1));
    for (const run of segments(shown)) {
      const coords = run.map(([x, y]) => [n(sx(x)), n(sy(y))]);
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${coords.map((c) => c.join(",")).join(" ")}"/>`);
      // Markers while they stay readable; a lone point (a gap on each side) needs one to be seen at all.
      if (s.points.length <= 60 || run.length === 1) {
        for (const [cx, cy] of coords) out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
      }
    }
    const ly = MARGIN.top + 10 + i * 20;
    out.push(`<line x1="${WIDTH - MARGIN.right + 16}" x2="${WIDTH - MARGIN.right + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${WIDTH - MARGIN.right + 42}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push("</svg>", "");
  return out.join("\n");
}

/** Maximal runs of consecutive points with a y (nulls and non-finite values break a line). */
function segments(points: readonly (readonly [number, number | null])[]): [number, number][][] {
  const runs: [number, number][][] = [];
  let current: [number, number][] = [];
  for (const [x, y] of points) {
    if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) {
      if (current.length > 0) runs.push(current);
      current = [];
    } else current.push([x, y]);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/** A range with room around the data; a single value gets a unit-sized (or relative) window. */
function padRange(lo: number, hi: number): [number, number] {
  if (hi > lo) {
    const pad = (hi - lo) * 0.05;
    return [lo - pad, hi + pad];
  }
  const half = Math.abs(lo) > 1 ? Math.abs(lo) * 0.05 : 0.5;
  return [lo - half, hi + half];
}

/** About `count` round-numbered ticks (1, 2 or 5 times a power of ten apart) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * (1 - 1e-9)) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

/** For text content (the chart puts no caller's text in an attribute). */
function escapeXml(s: string): string {
  return s.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!);
}
