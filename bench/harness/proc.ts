/**
 * Child processes for the benchmarks. A benchmark's measurements run in fresh Node processes: the tfjs
 * backend is chosen once per process, memory figures need a process of their own, and a server and its
 * clients must not share one event loop. Every child has a hard time limit and is killed when it passes,
 * so a run always ends by itself.
 *
 * startChild(file, fn, args) runs `export async function fn(args, io)` of dist/bench/<file> in a new process
 * (through child.ts) and resolves with what it returns; the two sides can also exchange messages.
 * runCommand runs the real `fedfusion` CLI.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is dist/bench/harness/proc.js once compiled). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const DIST_BENCH = path.join(ROOT, "dist", "bench");
export const CLI = path.join(ROOT, "dist", "bin", "fedfusion.js");

/** What a child function gets besides its arguments. */
export interface ChildIO {
  /** A message to the parent (see ChildHandle.nextMessage). */
  send(message: unknown): void;
  /** The next message from the parent. */
  next<M = unknown>(): Promise<M>;
  /** A progress line, printed by the top-level runner. */
  log(line: string): void;
}

export type ChildFunction<A, R> = (args: A, io: ChildIO) => Promise<R>;

export interface ChildOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  execArgv?: string[];
  /** Progress lines from the child (and its stderr when BENCH_VERBOSE=1). */
  log?: (line: string) => void;
}

export interface ChildHandle<R> {
  readonly pid: number;
  readonly result: Promise<R>;
  nextMessage<M = unknown>(timeoutMs?: number): Promise<M>;
  send(message: unknown): void;
  kill(): void;
  /** For a child serving until told: sends "stop", waits for its result (or failure), then kills what is left. */
  stop(): Promise<void>;
}

type Envelope =
  | { type: "result"; payload: unknown }
  | { type: "error"; message: string }
  | { type: "message"; payload: unknown }
  | { type: "log"; line: string };

const TAIL_BYTES = 4000;

export function startChild<R>(file: string, fn: string, args: unknown, o: ChildOptions): ChildHandle<R> {
  const entry = path.join(DIST_BENCH, "harness", "child.js");
  const child: ChildProcess = fork(entry, [file, fn, JSON.stringify(args ?? null)], {
    cwd: ROOT,
    env: { ...process.env, ...o.env },
    execArgv: o.execArgv ?? [],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const verbose = process.env.BENCH_VERBOSE === "1";
  let tail = "";
  const keep = (d: Buffer) => {
    const s = d.toString();
    tail = (tail + s).slice(-TAIL_BYTES);
    if (verbose) for (const line of s.split("\n")) if (line.trim()) o.log?.(`  | ${line}`);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);

  const inbox: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  let settled = false;
  let resolveResult!: (r: R) => void;
  let rejectResult!: (e: Error) => void;
  const result = new Promise<R>((res, rej) => {
    resolveResult = res;
    rejectResult = rej;
  });
  result.catch(() => undefined); // callers handle it; avoid an unhandled rejection if they never await

  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    child.kill("SIGKILL");
    rejectResult(new Error(`${file}:${fn} ran past its ${Math.round(o.timeoutMs / 1000)} s limit and was killed${tailNote(tail)}`));
  }, o.timeoutMs);

  child.on("message", (m: Envelope) => {
    switch (m.type) {
      case "result":
        settled = true;
        clearTimeout(timer);
        resolveResult(m.payload as R);
        break;
      case "error":
        settled = true;
        clearTimeout(timer);
        rejectResult(new Error(`${file}:${fn} failed: ${m.message}`));
        break;
      case "message": {
        const w = waiters.shift();
        if (w) w(m.payload);
        else inbox.push(m.payload);
        break;
      }
      case "log":
        o.log?.(m.line);
        break;
    }
  });
  // 'close', not 'exit': IPC messages (the result, or the error) can still arrive after 'exit'.
  child.on("close", (code, signal) => {
    clearTimeout(timer);
    if (settled) return;
    settled = true;
    rejectResult(new Error(`${file}:${fn} exited with ${signal ?? `code ${code}`} before returning a result${tailNote(tail)}`));
  });

  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  return {
    pid: child.pid ?? -1,
    result,
    nextMessage<M>(timeoutMs = o.timeoutMs): Promise<M> {
      const queued = inbox.shift();
      if (queued !== undefined) return Promise.resolve(queued as M);
      return new Promise<M>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${file}:${fn}: no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((m) => {
          clearTimeout(t);
          resolve(m as M);
        });
        result.then(
          () => undefined,
          (e: Error) => {
            clearTimeout(t);
            reject(e);
          },
        );
      });
    },
    send(message: unknown) {
      if (child.connected) child.send({ type: "message", payload: message });
    },
    kill,
    async stop() {
      if (child.connected) child.send({ type: "message", payload: "stop" });
      await result.catch(() => undefined);
      kill();
    },
  };
}

export function runChild<R>(file: string, fn: string, args: unknown, o: ChildOptions): Promise<R> {
  return startChild<R>(file, fn, args, o).result;
}

function tailNote(tail: string): string {
  const t = tail.trim();
  return t ? `; last output:\n${t.split("\n").slice(-15).join("\n")}` : "";
}

export interface CommandResult {
  code: number | null;
  signal: string | null;
  wallMs: number;
  output: string;
  timedOut: boolean;
}

/** Runs `node dist/bin/fedfusion.js <args>`; wall time from spawn to exit. Killed after timeoutMs. */
export function runCommand(args: string[], o: { timeoutMs: number; env?: NodeJS.ProcessEnv; log?: (line: string) => void }): Promise<CommandResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...o.env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (d: Buffer) => {
      output += d.toString();
      if (output.length > 2_000_000) output = output.slice(-1_000_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, o.timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, wallMs: performance.now() - t0, output, timedOut });
    });
  });
}

/** The last lines of a command's output, for error messages. */
export function lastLines(text: string, n = 8): string {
  return text.trim().split("\n").slice(-n).join("\n");
}
