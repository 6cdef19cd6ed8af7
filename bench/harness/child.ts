/**
 * Entry point of every benchmark child process (see proc.ts): `node child.js <file> <fn> <json args>`
 * imports dist/bench/<file>, awaits `fn(args, io)` and sends the result to the parent over IPC.
 */
import { pathToFileURL } from "node:url";
import path from "node:path";
import { DIST_BENCH, type ChildIO } from "./proc.js";

const [file, fn, argsJson] = process.argv.slice(2);

// The parent is gone (it crashed, or was killed, before stopping this child): nobody will read a result or
// tell a serving child to stop, so exit rather than linger holding ports, memory and CPU.
process.on("disconnect", () => process.exit(1));

const inbox: unknown[] = [];
const waiters: ((m: unknown) => void)[] = [];
process.on("message", (m: { type?: string; payload?: unknown }) => {
  if (m?.type !== "message") return;
  const w = waiters.shift();
  if (w) w(m.payload);
  else inbox.push(m.payload);
});

const io: ChildIO = {
  send(message) {
    process.send?.({ type: "message", payload: message });
  },
  next<M>() {
    const queued = inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued as M);
    return new Promise<M>((resolve) => waiters.push((m) => resolve(m as M)));
  },
  log(line) {
    process.send?.({ type: "log", line });
  },
};

function finish(message: object, code: number): void {
  if (process.send) process.send(message, () => process.exit(code));
  else {
    process.stdout.write(JSON.stringify(message) + "\n");
    process.exit(code);
  }
}

async function main(): Promise<void> {
  if (!file || !fn) throw new Error("usage: child.js <file> <function> <json args>");
  const mod = (await import(pathToFileURL(path.join(DIST_BENCH, file)).href)) as Record<string, unknown>;
  const f = mod[fn];
  if (typeof f !== "function") throw new Error(`${file} exports no function ${fn}`);
  const result = await (f as (a: unknown, io: ChildIO) => Promise<unknown>)(JSON.parse(argsJson ?? "null"), io);
  finish({ type: "result", payload: result ?? null }, 0);
}

main().catch((e: unknown) => finish({ type: "error", message: (e as Error)?.stack ?? String(e) }, 1));
