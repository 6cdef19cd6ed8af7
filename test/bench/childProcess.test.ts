/**
 * Benchmark children (bench/harness/child.ts) do not outlive their parent: a bench process that crashes
 * before stopping a serving child must not leave it holding ports, memory and CPU on the machine — where it
 * would skew every later measurement.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.js";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("benchmark children", () => {
  it("exit when their parent dies without stopping them", async () => {
    const proc = pathToFileURL(path.join(ROOT, "dist/bench/harness/proc.js")).href;
    // A serving child (the emulated link's proxy waits for "stop"), then the parent dies without sending it.
    const script = `
      const { startChild } = await import(${JSON.stringify(proc)});
      const child = startChild("uploadTransfer.js", "delayProxy", { port: 9, oneWayMs: 1 }, { timeoutMs: 120000, log: () => {} });
      await child.nextMessage(60000);
      console.log(child.pid);
      process.exit(3);
    `;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    parent.stdout.on("data", (d: Buffer) => (out += d));
    const code = await new Promise<number | null>((resolve) => parent.on("exit", resolve));
    expect(code).toBe(3);
    const pid = Number(out.trim());
    expect(pid).toBeGreaterThan(0);
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const lingered = alive(pid);
    if (lingered) process.kill(pid, "SIGKILL");
    expect(lingered).toBe(false);
  });
});
