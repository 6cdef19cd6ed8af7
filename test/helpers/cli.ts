/** Runs the real `fedfusion` command (compiled by globalSetup) as child processes. */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = path.join(ROOT, "dist/bin/fedfusion.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first match of `re` in stdout+stderr. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
  exited: Promise<CliResult>;
}

/** `nodeFlags`: options for node itself, before the script. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, nodeFlags: readonly string[] = []): CliProcess {
  return startNode([...nodeFlags, CLI, ...args], env);
}

/** `node <args>` (a script of the test's own, say), its output watched as startCli's is. */
export function startNode(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d) => {
    stdout += d;
    listeners.forEach((l) => l());
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
    listeners.forEach((l) => l());
  });
  const exited = new Promise<CliResult>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  const output = () => stdout + stderr;
  const waitFor = (re: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = output().match(re);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${re}; output so far:\n${output()}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => {
        check();
        if (listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`process exited before ${re}; output:\n${output()}`));
        }
      });
      check();
    });
  return { child, output, waitFor, exited };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(args, env).exited;
}

export function tempDir(prefix = "fedfusion-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A temp dir with `fedfusion partition` output in DIR/parts: client-1..N folders and a test folder. */
export async function partitionedDir(clients: number, samples: number, testSamples: number): Promise<string> {
  const dir = await tempDir();
  const r = await runCli(["partition", "--clients", String(clients), "--samples", String(samples), "--test-samples", String(testSamples), "--out", path.join(dir, "parts")]);
  if (r.code !== 0) throw new Error(`fedfusion partition failed: ${r.stderr}`);
  return dir;
}

/**
 * The process running a started command: `fedfusion client` and `fedfusion coordinator` relaunch themselves
 * with their Node flags (bin/relaunch.ts), so it is the launcher's child where there is one (Linux /proc).
 * A test that freezes a client (SIGSTOP) must freeze this one: the launcher only waits.
 */
export function commandPid(p: CliProcess): number {
  const pid = p.child.pid!;
  return childProcesses(pid)[0]?.pid ?? pid;
}

/** A process's children (Linux /proc), with their command lines. */
export function childProcesses(pid: number): { pid: number; argv: string[] }[] {
  const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return tasks ? tasks.split(/\s+/).map(Number).map((c) => ({ pid: c, argv: readFileSync(`/proc/${c}/cmdline`, "utf8").split("\0").filter(Boolean) })) : [];
}

/** Kills whatever a test started and left running. */
export function killAll(procs: CliProcess[], signal: NodeJS.Signals = "SIGTERM"): void {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill(signal);
}

/**
 * Waits for every process to exit. A federation that hangs fails here, well inside the test's own timeout,
 * with what each process printed, rather than as a bare vitest timeout.
 */
export async function allExited(procs: CliProcess[], timeoutMs = 90_000): Promise<CliResult[]> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const running = procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
      const report = procs.map((p, i) => `--- process ${i} (${running.includes(p) ? "still running" : `exited ${p.child.exitCode}`}): ${p.child.spawnargs.slice(2, 4).join(" ")}\n${p.output()}`);
      reject(new Error(`${running.length} of ${procs.length} processes still running after ${timeoutMs / 1000}s\n${report.join("\n")}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([Promise.all(procs.map((p) => p.exited)), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
