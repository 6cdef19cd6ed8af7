/**
 * BENCHMARKS.md from a results object: machine, a summary of every target (met / missed and, when
 * missed, what limits it), then each benchmark's figures with their in-run baselines and ratios.
 * Pure: the same results give the same text.
 */
import type { BenchmarkResult, Figure, SuiteResults, TargetResult } from "./results.js";

/** Three significant digits, thousands separated; "n/a" for null/NaN. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString("en-US");
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(abs)));
  return x.toFixed(digits);
}

export function formatValue(x: number | null | undefined, unit: string): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  if (unit === "%") return `${formatNumber(100 * x)}%`;
  if (unit === "×") return `${formatNumber(x)}×`;
  if (unit === "") return formatNumber(x);
  return `${formatNumber(x)} ${unit}`;
}

export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? "n/a" : `${formatNumber(r)}×`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

const STATUS_TEXT: Record<TargetResult["status"], string> = {
  met: "✅ met",
  missed: "❌ **missed**",
  pending: "⏳ pending",
  "not-run": "— not run",
};

/** Escapes what would break a table cell. */
export function cell(s: string | number | null | undefined): string {
  if (s === null || s === undefined) return "";
  return String(s).replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

function row(cells: (string | number | null | undefined)[]): string {
  return `| ${cells.map(cell).join(" | ")} |`;
}

function table(header: string[], rows: (string | number | null | undefined)[][]): string[] {
  return [row(header), `|${header.map(() => "---").join("|")}|`, ...rows.map(row)];
}

export function targetMeasured(t: TargetResult): string {
  return formatValue(t.measured, t.unit);
}

export function targetText(t: TargetResult): string {
  const op = { ">=": "≥", "<=": "≤", "<": "<", ">": ">" }[t.op];
  return `${t.description} (${op} ${formatValue(t.threshold, t.unit)})`;
}

function figureRow(f: Figure): (string | null)[] {
  const baseline = f.baseline ? `${f.baseline.label}: ${formatValue(f.baseline.value, f.baseline.unit)}` : "—";
  const ratio = f.ratio === undefined ? "—" : formatRatio(f.ratio);
  return [f.label, formatValue(f.value, f.unit), baseline, ratio, f.detail ?? ""];
}

function benchmarkSection(b: BenchmarkResult, index: number): string[] {
  const lines = [`## ${index}. ${b.title}`, ""];
  lines.push(`\`${b.name}\` · ran ${formatDuration(b.durationMs)}`, "");
  if (b.error) lines.push(`**The benchmark failed:** ${cell(b.error.split("\n")[0])}`, "");
  if (b.figures.length > 0) {
    lines.push(...table(["figure", "value", "in-run baseline", "ratio", "detail"], b.figures.map(figureRow)), "");
  }
  if (b.targets.length > 0) {
    lines.push(
      ...table(
        ["target", "measured", "status", "why / what limits it"],
        b.targets.map((t) => [targetText(t), targetMeasured(t), STATUS_TEXT[t.status], [t.why, t.note].filter(Boolean).join(" — ")]),
      ),
      "",
    );
  }
  for (const t of b.tables) {
    lines.push(`**${cell(t.title)}**`, "", ...table(t.columns, t.rows.map((r) => r.map((c) => (typeof c === "number" ? formatNumber(c) : c)))), "");
  }
  if (b.notes.length > 0) {
    lines.push("How it is measured:", "", ...b.notes.map((n) => `- ${n}`), "");
  }
  return lines;
}

function machineSection(r: SuiteResults): string[] {
  const m = r.machine;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const load = (l: number[] | undefined) => (l ? l.map((x) => x.toFixed(2)).join(" / ") : "n/a");
  const sel = m.selected;
  const rows: string[][] = [
    ["CPU", `${m.cpuModel} — ${m.cores} cores${m.cpuFlags.length ? ` (${m.cpuFlags.join(", ")})` : ""}`],
    ["Memory", gib(m.memoryBytes)],
    ["Node", `${m.node} (${m.platform} ${m.arch}, kernel ${m.kernel})`],
    ["Load average (1/5/15 min)", `start ${load(m.loadAverageStart)}, end ${load(m.loadAverageEnd)}`],
    ["tfjs backend (`--backend auto`)", sel.available ? `**${sel.name}** (tfjs \`${sel.tfBackend}\`): ${sel.detail}` : `none: ${sel.reason}`],
    ...m.backends.map((b) => [`backend \`${b.choice}\``, b.available ? `available — ${b.detail}` : `not available — ${b.reason}`]),
    ["OpenBLAS addon", m.openblas.available ? (m.openblas.detail ?? "available") : `not available — ${m.openblas.reason}`],
  ];
  if (sel.skipped && sel.skipped.length > 0) rows.splice(5, 0, ["auto skipped", sel.skipped.join("; ")]);
  return ["## Machine", "", ...table(["", ""], rows), ""];
}

function summarySection(r: SuiteResults): string[] {
  const rows: string[][] = [];
  for (const b of r.benchmarks) {
    for (const t of b.targets) {
      rows.push([b.name, targetText(t), targetMeasured(t), STATUS_TEXT[t.status], t.status === "met" ? (t.note ?? "") : [t.why, t.note].filter(Boolean).join(" — ")]);
    }
  }
  const count = (s: TargetResult["status"]) => r.benchmarks.reduce((n, b) => n + b.targets.filter((t) => t.status === s).length, 0);
  return [
    "## Targets",
    "",
    `${count("met")} met, ${count("missed")} missed, ${count("pending")} pending, ${count("not-run")} not run in this mode.`,
    "",
    ...table(["benchmark", "target", "measured", "status", "why / what limits it"], rows),
    "",
  ];
}

export function renderMarkdown(r: SuiteResults, resultsFile?: string): string {
  const lines = [
    "# Benchmarks",
    "",
    "<!-- Generated by `npm run bench` (bench/run.ts) from bench/results/latest.json. Do not edit: rerun the bench. -->",
    "",
    `Mode **${r.mode}**${r.only ? ` (only: ${r.only.join(", ")})` : ""} · started ${r.startedAt} · took ${formatDuration(r.durationMs)}` +
      (resultsFile ? ` · raw results: \`${resultsFile}\`` : ""),
    "",
    "Every figure is a ratio against a baseline measured in the same run on the same machine; absolute times",
    "and rates are context only (this machine is shared and noisy). Reproduce with `npm run build && npm run bench`",
    "(full suite) or `npm run bench -- --quick`; `--only <name,...>` runs selected benchmarks:",
    `${r.benchmarks.map((b) => `\`${b.name}\``).join(", ")}.`,
    "",
    ...machineSection(r),
    ...summarySection(r),
  ];
  r.benchmarks.forEach((b, i) => lines.push(...benchmarkSection(b, i + 1)));
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}
