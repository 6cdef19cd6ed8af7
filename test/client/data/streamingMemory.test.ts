/**
 * Memory stays bounded by the batch, not the shard, when a folder is streamed: one epoch over a folder
 * whose decoded images are over 60× the streaming source's decoded-batch window (prefetch 2 + the batch
 * trained on), loaded into memory and streamed, each in its own process (streamingMemory.mjs, on the
 * compiled tree), comparing how far each process's resident memory grows over the epoch.
 */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { pngBytes, tempDir } from "./helpers.js";

const SCRIPT = fileURLToPath(new URL("./streamingMemory.mjs", import.meta.url));
const CLASSES = ["a", "b", "c", "d"];
const FILES = 6000;
const SIDE = 96;
const BATCH = 32;

interface Run {
  mode: string;
  examples: number;
  decodeThreads: number;
  baseline: number;
  peak: number;
  growth: number;
  millis: number;
}

async function run(mode: "memory" | "stream", dir: string): Promise<Run> {
  const args = { mode, dir, height: SIDE, width: SIDE, channels: 3, batchSize: BATCH, classes: CLASSES };
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT, JSON.stringify(args)], { timeout: 240_000, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").pop()!) as Run;
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

describe("streaming memory", () => {
  it("trains an epoch over a folder far larger than the batch window with bounded resident memory", { timeout: 300_000 }, async () => {
    // Small source files (decoding is not what is measured) upscaled to 96×96×3: 27 KB per example decoded.
    const dir = await tempDir();
    const distinct = Array.from({ length: 16 }, (_, i) => pngBytes(8, 8, 3, Array.from({ length: 192 }, (_, p) => (p * 7 + i * 29) % 256)));
    for (const c of CLASSES) await mkdir(join(dir, c));
    for (let i = 0; i < FILES; i++) await writeFile(join(dir, CLASSES[i % 4], `${String(i).padStart(5, "0")}.png`), distinct[i % 16]);
    const decoded = FILES * SIDE * SIDE * 3;
    const window = 3 * BATCH * SIDE * SIDE * 3;
    expect(decoded).toBeGreaterThan(10 * window);

    const memory = await run("memory", dir);
    const stream = await run("stream", dir);
    console.log(
      `decoded shard ${mb(decoded)}, decoded-batch window ${mb(window)}; resident memory growth over one epoch: ` +
        `in memory ${mb(memory.growth)} (peak ${mb(memory.peak)}), streamed ${mb(stream.growth)} (peak ${mb(stream.peak)}, ` +
        `${stream.decodeThreads} decoding thread(s)); ${memory.millis} ms vs ${stream.millis} ms`,
    );
    expect(memory.examples).toBe(FILES);
    expect(stream.examples).toBe(FILES);
    // The compiled tree decodes in a worker thread, as production does.
    expect(stream.decodeThreads).toBeGreaterThan(0);
    // The measurement sees a loaded shard…
    expect(memory.growth).toBeGreaterThan(0.9 * decoded);
    // …and streaming saves most of it: what it adds (the decode thread, heap for the batches' garbage)
    // does not grow with the shard.
    expect(stream.growth).toBeLessThan(0.6 * decoded);
    expect(stream.growth).toBeLessThan(memory.growth - 0.5 * decoded);
  });
});
