#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [-- --only compute,wire]`: runs the benchmark suite, each benchmark in its
 * own process, writes bench/results/<timestamp>.json (+ latest.json) and regenerates BENCHMARKS.md.
 *
 *   --quick          short sizes; finishes in minutes on a 2-core machine
 *   --only a,b       only these benchmarks (results/<timestamp>.json only; latest.json and BENCHMARKS.md
 *                    are rewritten by whole-suite runs, so they never mix runs)
 *   --render FILE    rewrite BENCHMARKS.md from a results file, without measuring
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { collectMachineInfo } from "./harness/machine.js";
import { formatDuration, formatValue, renderMarkdown } from "./harness/markdown.js";
import { ROOT, startChild } from "./harness/proc.js";
import { BENCHMARKS, selectBenchmarks, type BenchContext } from "./harness/registry.js";
import { benchmarkResult, writeAtomic, writeResults, type BenchmarkOutput, type BenchmarkResult, type SuiteResults } from "./harness/results.js";

const RESULTS_DIR = path.join(ROOT, "bench", "results");
const MARKDOWN = path.join(ROOT, "BENCHMARKS.md");

interface Args {
  quick: boolean;
  only: string[] | null;
  render: string | null;
}

function usage(): string {
  return [
    "usage: npm run bench -- [--quick] [--only NAME,...] [--render RESULTS.json]",
    `benchmarks: ${BENCHMARKS.map((b) => b.name).join(", ")}`,
    "",
  ].join("\n");
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: null, render: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
      if (v === undefined || v === "") throw new Error(`${arg.split("=")[0]} needs a value\n${usage()}`);
      return v;
    };
    if (arg === "--quick") a.quick = true;
    else if (arg === "--only" || arg.startsWith("--only=")) a.only = [...(a.only ?? []), value()];
    else if (arg === "--render" || arg.startsWith("--render=")) a.render = value();
    else if (arg === "--help" || arg === "-h") {
      process.stdout.write(usage());
      process.exit(0);
    } else throw new Error(`unknown argument '${arg}'\n${usage()}`);
  }
  return a;
}

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} bench  ${line}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) {
    const results = JSON.parse(await readFile(args.render, "utf8")) as SuiteResults;
    await writeAtomic(MARKDOWN, renderMarkdown(results, path.relative(ROOT, path.resolve(args.render))));
    log(`wrote ${path.relative(process.cwd(), MARKDOWN)} from ${args.render}`);
    return 0;
  }
  const entries = selectBenchmarks(args.only);
  const started = new Date();
  const mode = args.quick ? "quick" : "full";
  log(`${mode} mode: ${entries.map((e) => e.name).join(", ")}`);
  log("probing the machine and its tfjs backends");
  const machine = await collectMachineInfo(log);
  log(`backend auto → ${machine.selected.available ? `${machine.selected.name} (${machine.selected.detail})` : `none (${machine.selected.reason})`}`);
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), "fedfusion-bench-"));
  const ctx: BenchContext = { quick: args.quick, machine, tmpDir };
  const benchmarks: BenchmarkResult[] = [];
  try {
    for (const e of entries) {
      const t0 = new Date();
      log(`▶ ${e.name}: ${e.title}`);
      let out: BenchmarkOutput | null = null;
      let error: string | undefined;
      try {
        out = await startChild<BenchmarkOutput>(e.file, "run", ctx, {
          timeoutMs: args.quick ? e.quickTimeoutMs : e.fullTimeoutMs,
          log: (l) => log(`  ${e.name}: ${l}`),
          execArgv: [...(e.nodeFlags ?? [])],
        }).result;
      } catch (err) {
        error = (err as Error).message;
        log(`  ${e.name} failed: ${error}`);
      }
      const r = benchmarkResult(e.name, e.title, t0, Date.now() - t0.getTime(), out, error);
      benchmarks.push(r);
      for (const t of r.targets) log(`  ${t.status.padEnd(7)} ${t.description}: ${formatValue(t.measured, t.unit)}${t.why ? ` (${t.why.split("\n")[0]})` : ""}`);
      log(`  ${e.name} took ${formatDuration(r.durationMs)}`);
    }
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  machine.loadAverageEnd = os.loadavg();
  const finished = new Date();
  const results: SuiteResults = {
    schema: 1,
    mode,
    only: args.only ? entries.map((e) => e.name) : null,
    command: `npm run bench --${args.quick ? " --quick" : ""}${args.only ? ` --only ${entries.map((e) => e.name).join(",")}` : ""}`,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: finished.getTime() - started.getTime(),
    machine,
    benchmarks,
  };
  const whole = args.only === null;
  const file = await writeResults(RESULTS_DIR, results, whole);
  const rel = path.relative(ROOT, file);
  if (whole) {
    await writeAtomic(MARKDOWN, renderMarkdown(results, "bench/results/latest.json"));
    log(`wrote ${rel}, bench/results/latest.json and BENCHMARKS.md`);
  } else {
    log(`wrote ${rel} (latest.json and BENCHMARKS.md are rewritten by whole-suite runs only; --render ${rel} to render this one)`);
  }
  log(`done in ${formatDuration(results.durationMs)}`);
  return benchmarks.some((b) => b.error !== undefined) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error)?.message ?? String(e)}\n`);
    process.exit(2);
  },
);
