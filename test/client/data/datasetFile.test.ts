import { readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatasetFile, readDatasetFile, writeDatasetFile } from "../../../client/data/datasetFile.js";
import { relabel, subset, type ImageDataset } from "../../../shared/data/imageDataset.js";
import { inMemorySource, type TrainingSource } from "../../../shared/data/trainingSource.js";
import { UserError } from "../../../shared/errors.js";
import { pattern, tempDir } from "./helpers.js";

function sample(count = 5): ImageDataset {
  const images = new Uint8Array(count * 36);
  for (let i = 0; i < count; i++) images.set(pattern(4, 3, 3, i), i * 36);
  return {
    images,
    labels: Uint8Array.from({ length: count }, (_, i) => i % 3),
    count,
    height: 3,
    width: 4,
    channels: 3,
    classNames: ["cat", "dog", "émeu"],
  };
}

describe("dataset file", () => {
  it("round-trips a dataset exactly and leaves no temporary file", async () => {
    const dir = await tempDir();
    const path = join(dir, "d.ffds");
    const d = sample();
    await writeDatasetFile(path, d);
    const back = await readDatasetFile(path);
    expect(back.count).toBe(5);
    expect([back.height, back.width, back.channels]).toEqual([3, 4, 3]);
    expect(back.classNames).toEqual(["cat", "dog", "émeu"]);
    expect(Array.from(back.labels)).toEqual(Array.from(d.labels));
    expect(Buffer.from(back.images).equals(Buffer.from(d.images))).toBe(true);
    expect(await readdir(dir)).toEqual(["d.ffds"]);
    const bytes = await readFile(path);
    expect(bytes.toString("latin1", 0, 4)).toBe("FFDS");
  });

  it("round-trips an empty dataset", async () => {
    const path = join(await tempDir(), "empty.ffds");
    await writeDatasetFile(path, sample(0));
    const back = await readDatasetFile(path);
    expect(back.count).toBe(0);
    expect(back.images.length).toBe(0);
  });

  it("replaces an existing file whole", async () => {
    const path = join(await tempDir(), "d.ffds");
    await writeDatasetFile(path, sample(5));
    await writeDatasetFile(path, sample(2));
    expect((await readDatasetFile(path)).count).toBe(2);
  });

  it("reports a truncated file as a UserError naming the file", async () => {
    const path = join(await tempDir(), "d.ffds");
    await writeDatasetFile(path, sample());
    const size = (await readFile(path)).length;
    await truncate(path, size - 10);
    const err = await readDatasetFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/truncated/);
    expect((err as Error).message).not.toContain("\n");
  });

  it("reports a file cut inside its header, a wrong signature and trailing bytes", async () => {
    const dir = await tempDir();
    const path = join(dir, "d.ffds");
    await writeDatasetFile(path, sample());
    const good = await readFile(path);

    await writeFile(path, good.subarray(0, 20));
    await expect(readDatasetFile(path)).rejects.toThrow(/truncated inside the header/);
    await writeFile(path, good.subarray(0, 6));
    await expect(readDatasetFile(path)).rejects.toThrow(/too short/);
    await writeFile(path, Buffer.concat([Buffer.from("PNG!"), good.subarray(4)]));
    await expect(readDatasetFile(path)).rejects.toThrow(/not a dataset file/);
    await writeFile(path, Buffer.concat([good, Buffer.from([1, 2])]));
    await expect(readDatasetFile(path)).rejects.toThrow(/2 unexpected bytes/);
    const badLabel = Buffer.from(good);
    badLabel[good.length - 5 * 36 - 1] = 9; // the last label
    await writeFile(path, badLabel);
    await expect(readDatasetFile(path)).rejects.toThrow(/label 9 of example 4/);
  });

  it("reports a missing file as a UserError", async () => {
    const path = join(await tempDir(), "nope.ffds");
    await expect(readDatasetFile(path)).rejects.toThrow(UserError);
    await expect(readDatasetFile(path)).rejects.toThrow(path);
  });
});

describe("dataset file, streamed (openDatasetFile)", () => {
  async function written(d: ImageDataset): Promise<string> {
    const path = join(await tempDir(), "d.ffds");
    await writeDatasetFile(path, d);
    return path;
  }

  /** Every example the batches hand out, as [label, ...pixels]. */
  async function examples(s: TrainingSource, order: ArrayLike<number>, batchSize: number): Promise<number[][]> {
    const out: number[][] = [];
    const size = s.height * s.width * s.channels;
    for await (const v of s.batches(order, batchSize)) {
      for (let i = v.start; i < v.end; i++) {
        const e = v.order[i];
        out.push([v.data.labels[e], ...v.data.images.subarray(e * size, (e + 1) * size)]);
      }
    }
    return out;
  }

  it("reads only the header and labels up front, and the images of each batch from their offsets", async () => {
    const d = sample(9);
    const s = await openDatasetFile(await written(d));
    expect(s.streaming).toBe(true);
    expect([s.count, s.height, s.width, s.channels]).toEqual([9, 3, 4, 3]);
    expect(s.classNames).toEqual(d.classNames);
    expect(Array.from(s.labels)).toEqual(Array.from(d.labels));
    expect(s.imageBytes).toBe(9 * 36);
    const order = Uint32Array.from([8, 2, 3, 4, 0, 7, 1, 6, 5]);
    const want = await examples(inMemorySource(d), order, 4);
    expect(await examples(s, order, 4)).toEqual(want);
    expect(await examples(s, order, 1)).toEqual(want);
    // Subsets and relabelling, as subset() and relabel() of the loaded dataset.
    const sub = s.subset([5, 1, 2]).relabel(["émeu", "dog", "cat", "yak"]);
    const wantSub = relabel(subset(d, [5, 1, 2]), ["émeu", "dog", "cat", "yak"]);
    expect(sub.classNames).toEqual(wantSub.classNames);
    expect(await examples(sub, [0, 1, 2], 2)).toEqual(await examples(inMemorySource(wantSub), [0, 1, 2], 2));
  });

  it("reports the same problems as readDatasetFile", async () => {
    const path = await written(sample(4));
    await truncate(path, (await readFile(path)).length - 1);
    await expect(openDatasetFile(path)).rejects.toThrow(/unusable: truncated/);
    await expect(openDatasetFile(join(await tempDir(), "missing.ffds"))).rejects.toThrow(UserError);
    const notOne = join(await tempDir(), "x.ffds");
    await writeFile(notOne, "hello world, not a dataset");
    await expect(openDatasetFile(notOne)).rejects.toThrow(/not a dataset file/);
  });
});
