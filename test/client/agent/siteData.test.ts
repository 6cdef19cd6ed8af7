import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { datasetFileSite, imageFolderSite, maxShardBytes, shouldStream, type OpenedSiteData } from "../../../client/agent/siteData.js";
import { writeDatasetFile } from "../../../client/data/datasetFile.js";
import { identityOrder } from "../../../shared/data/batches.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import type { TrainingSource } from "../../../shared/data/trainingSource.js";
import { UserError } from "../../../shared/errors.js";
import { pattern, pngBytes, tempDir } from "../data/helpers.js";

/** Every example of a source in order, as [label, ...pixels]. */
async function examples(s: TrainingSource): Promise<number[][]> {
  const out: number[][] = [];
  const size = s.height * s.width * s.channels;
  for await (const v of s.batches(identityOrder(s.count), 8)) {
    for (let i = v.start; i < v.end; i++) {
      const e = v.order[i];
      out.push([v.data.labels[e], ...v.data.images.subarray(e * size, (e + 1) * size)]);
    }
  }
  return out;
}

async function contents(o: OpenedSiteData) {
  return { train: await examples(o.train), validation: await examples(o.validation), skipped: o.skippedFiles };
}

async function folder(): Promise<string> {
  const dir = await tempDir();
  let seed = 0;
  for (const c of ["b", "a"]) {
    await mkdir(join(dir, c));
    for (let i = 0; i < 15; i++) await writeFile(join(dir, c, `${i}.png`), pngBytes(4, 4, 1, pattern(4, 4, 1, seed++)));
  }
  await writeFile(join(dir, "a", "broken.png"), "not a png");
  return dir;
}

const log = () => undefined;

describe("site data: in memory or streamed", () => {
  it("streams an image folder when its decoded size exceeds the budget, with the same split and examples", async () => {
    const dir = await folder();
    const classes = ["a", "b", "c"];
    const lines: string[] = [];
    const inMemory = await imageFolderSite(dir, 9).open([4, 4, 1], classes, (l) => lines.push(l));
    expect(inMemory.streaming).toBe(false);
    // 31 files × 16 bytes is 496 bytes: a budget of 400 bytes streams it.
    const streamed = await imageFolderSite(dir, 9, { maxShardMb: 400 / 2 ** 20, verify: true }).open([4, 4, 1], classes, (l) => lines.push(l));
    expect(streamed.streaming).toBe(true);
    expect(streamed.train.streaming).toBe(true);
    expect([streamed.train.count, streamed.validation.count]).toEqual([27, 3]);
    expect(await contents(streamed)).toEqual(await contents(inMemory));
    expect(streamed.skippedFiles).toBe(1);
    expect(lines.filter((l) => l.startsWith("warning: skipping"))).toHaveLength(2);
    expect(lines.some((l) => /^streaming .*: 30 images .* decoded per batch/.test(l))).toBe(true);
    await streamed.close();
  });

  it("without verification, counts an unreadable file when training meets it", async () => {
    const dir = await folder();
    const lines: string[] = [];
    const streamed = await imageFolderSite(dir, 9, { stream: "always" }).open([4, 4, 1], ["a", "b"], (l) => lines.push(l));
    expect(streamed.train.count + streamed.validation.count).toBe(31);
    expect(streamed.skippedFiles).toBe(0);
    const seen = (await examples(streamed.train)).length + (await examples(streamed.validation)).length;
    expect(seen).toBe(30);
    expect(streamed.skippedFiles).toBe(1);
    expect(lines.filter((l) => /^warning: skipping .*broken\.png/.test(l))).toHaveLength(1);
  });

  it("streams a dataset file past the budget, relabelled by the federation's classes", async () => {
    const d: ImageDataset = {
      images: Uint8Array.from({ length: 20 * 12 }, (_, i) => (i * 13) % 256),
      labels: Uint8Array.from({ length: 20 }, (_, i) => i % 2),
      count: 20,
      height: 2,
      width: 2,
      channels: 3,
      classNames: ["dog", "cat"],
    };
    const file = join(await tempDir(), "shard.ffds");
    await writeDatasetFile(file, d);
    const site = datasetFileSite(file, 4, { stream: "always" });
    expect(await site.classNames()).toEqual(["dog", "cat"]);
    expect(await site.exampleCount()).toBe(20);
    const streamed = await site.open([2, 2, 3], ["cat", "dog"], log);
    const inMemory = await datasetFileSite(file, 4, { stream: "never" }).open([2, 2, 3], ["cat", "dog"], log);
    expect([streamed.streaming, inMemory.streaming]).toEqual([true, false]);
    expect(streamed.train.classNames).toEqual(["cat", "dog"]);
    expect(await contents(streamed)).toEqual(await contents(inMemory));
    await expect(site.open([2, 2, 1], ["cat", "dog"], log)).rejects.toThrow(/holds 2x2x3 images, the federation's model takes 2x2x1/);
  });

  it("takes the budget from the option, else FEDFUSION_MAX_SHARD_MB, else 1024 MB", () => {
    expect(maxShardBytes({}, {})).toBe(1024 * 2 ** 20);
    expect(maxShardBytes({}, { FEDFUSION_MAX_SHARD_MB: "64" })).toBe(64 * 2 ** 20);
    expect(maxShardBytes({}, { FEDFUSION_MAX_SHARD_MB: "" })).toBe(1024 * 2 ** 20);
    expect(maxShardBytes({ maxShardMb: 2 }, { FEDFUSION_MAX_SHARD_MB: "64" })).toBe(2 * 2 ** 20);
    expect(() => maxShardBytes({}, { FEDFUSION_MAX_SHARD_MB: "lots" })).toThrow(UserError);
    expect(() => maxShardBytes({}, { FEDFUSION_MAX_SHARD_MB: "lots" })).toThrow(/FEDFUSION_MAX_SHARD_MB='lots'/);
    expect(() => maxShardBytes({ maxShardMb: -1 }, {})).toThrow(UserError);
    expect(shouldStream(2 * 2 ** 20, { maxShardMb: 1 }, {})).toBe(true);
    expect(shouldStream(2 * 2 ** 20, { maxShardMb: 2 }, {})).toBe(false);
    expect(shouldStream(1, { stream: "always" }, {})).toBe(true);
    expect(shouldStream(2 ** 40, { stream: "never" }, {})).toBe(false);
  });
});
