/**
 * keepFreedMemory (shared/keepFreedMemory.ts): glibc's trim threshold is raised once per process, through the
 * addon, unless the user set it. Each case in a fresh process (the threshold is process-wide).
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.js";
import { NATIVE_ADDON_MODULE } from "../helpers/nativeChild.js";

async function run(env: Record<string, string>): Promise<boolean[]> {
  const script = `const { keepFreedMemory } = await import(${JSON.stringify(path.join(ROOT, "dist/shared/keepFreedMemory.js"))});
console.log(JSON.stringify([keepFreedMemory(), keepFreedMemory()]));`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as boolean[];
}

describe("keepFreedMemory", () => {
  it("sets glibc's trim threshold once, through the addon", async () => {
    expect(await run({})).toEqual([true, true]);
  });

  it("leaves a threshold the user set alone", async () => {
    expect(await run({ MALLOC_TRIM_THRESHOLD_: "131072" })).toEqual([false, false]);
    expect(await run({ GLIBC_TUNABLES: "glibc.malloc.trim_threshold=131072" })).toEqual([false, false]);
  });

  it("changes nothing where the addon is off", async () => {
    expect(await run({ FEDFUSION_NATIVE: "off" })).toEqual([false, false]);
  });

  it("the addon refuses a threshold outside int", async () => {
    const script = `const { nativeAddon } = await import(${NATIVE_ADDON_MODULE});
try { nativeAddon().keepFreedMemory(2 ** 31); } catch (e) { console.log(e.message); }`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    expect(stdout.trim()).toBe("bytes must be an integer in [0, 2^31)");
  });
});
