import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createDecoder, workerScriptAvailable } from "../../../client/data/decodePool.js";
import { loadImageFolder } from "../../../client/data/imageFolder.js";
import { openImageFolder } from "../../../client/data/imageFolderSource.js";
import { subset } from "../../../shared/data/imageDataset.js";
import type { BatchView, TrainingSource } from "../../../shared/data/trainingSource.js";
import { UserError } from "../../../shared/errors.js";
import { permutation, Random } from "../../../shared/random.js";
import { dicomBytes } from "./dicomFiles.js";
import { pattern, pngBytes, tempDir } from "./helpers.js";

/** A folder of `perClass` 6×5 RGB PNGs in each of three classes (plus any extra files). */
async function folder(perClass: number, extra: Record<string, Buffer | string> = {}): Promise<string> {
  const dir = await tempDir();
  let seed = 0;
  for (const c of ["cat", "dog", "eel"]) {
    await mkdir(join(dir, c));
    for (let i = 0; i < perClass; i++) await writeFile(join(dir, c, `${String(i).padStart(3, "0")}.png`), pngBytes(5, 6, 3, pattern(5, 6, 3, seed++)));
  }
  for (const [rel, data] of Object.entries(extra)) await writeFile(join(dir, rel), data);
  return dir;
}

/** Every batch's examples concatenated: images (as the views address them) and labels. */
async function collect(s: TrainingSource, order: ArrayLike<number>, batchSize: number): Promise<{ images: number[]; labels: number[]; sizes: number[] }> {
  const images: number[] = [];
  const labels: number[] = [];
  const sizes: number[] = [];
  const size = s.height * s.width * s.channels;
  for await (const v of s.batches(order, batchSize) as AsyncIterable<BatchView>) {
    sizes.push(v.end - v.start);
    for (let i = v.start; i < v.end; i++) {
      const e = v.order[i];
      images.push(...v.data.images.subarray(e * size, (e + 1) * size));
      labels.push(v.data.labels[e]);
    }
  }
  return { images, labels, sizes };
}

const shape = { height: 4, width: 4, channels: 1 as const };

describe("openImageFolder (streaming)", () => {
  it("holds the same examples as loadImageFolder and decodes them per batch in any order", async () => {
    const dir = await folder(7);
    const { dataset } = await loadImageFolder(dir, shape);
    const { source, skipped } = await openImageFolder(dir, shape);
    expect(skipped).toEqual([]);
    expect(source.streaming).toBe(true);
    expect([source.count, source.height, source.width, source.channels]).toEqual([21, 4, 4, 1]);
    expect(source.classNames).toEqual(["cat", "dog", "eel"]);
    expect(Array.from(source.labels)).toEqual(Array.from(dataset.labels));
    const order = permutation(21, new Random(5));
    const got = await collect(source, order, 4);
    expect(got.sizes).toEqual([4, 4, 4, 4, 4, 1]);
    const want = subset(dataset, order);
    expect(got.images).toEqual(Array.from(want.images));
    expect(got.labels).toEqual(Array.from(want.labels));
    // A subset is a streaming source of the chosen examples.
    const sub = source.subset([20, 0, 7]);
    expect(sub.paths).toEqual([source.paths[20], source.paths[0], source.paths[7]]);
    expect((await collect(sub, [2, 1, 0], 2)).images).toEqual(Array.from(subset(dataset, [7, 0, 20]).images));
    await source.close();
  });

  it("leaves unreadable files out when verifying, with one warning each in file order", async () => {
    const dir = await folder(2, { "dog/zz-broken.png": "not an image", "cat/aa-truncated.dcm": dicomBytes({ rows: 4, columns: 4, pixelData: new Uint8Array(16) }).subarray(0, 150) });
    const warnings: string[] = [];
    const { source, skipped } = await openImageFolder(dir, { ...shape, warn: (m) => warnings.push(m) });
    expect(source.count).toBe(6);
    expect(skipped.map((s) => s.file)).toEqual([join(dir, "cat", "aa-truncated.dcm"), join(dir, "dog", "zz-broken.png")]);
    expect(warnings).toEqual(skipped.map((s) => `skipping ${s.file}: ${s.reason}`));
    const loaded = await loadImageFolder(dir, { ...shape, warn: () => undefined });
    expect((await collect(source, [0, 1, 2, 3, 4, 5], 4)).images).toEqual(Array.from(loaded.dataset.images));
  });

  it("without verifying, drops a file that fails during training from its batch, warning once", async () => {
    const dir = await folder(3);
    const warnings: string[] = [];
    const { source } = await openImageFolder(dir, { ...shape, verify: false, warn: (m) => warnings.push(m) });
    expect(source.count).toBe(9);
    await rm(source.paths[4]);
    for (let epoch = 0; epoch < 2; epoch++) {
      const got = await collect(source, [0, 1, 2, 3, 4, 5, 6, 7, 8], 3);
      expect(got.sizes).toEqual([3, 2, 3]);
      expect(got.labels).toEqual([0, 0, 0, 1, 1, 2, 2, 2]);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^skipping .*dog.001\.png: cannot read/);
    expect(source.lateSkipped.map((s) => s.file)).toEqual([source.paths[4]]);
  });

  it("fails like loadImageFolder on a folder with no readable image", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "a"));
    await writeFile(join(dir, "a", "x.png"), "nope");
    await expect(openImageFolder(dir, { ...shape, warn: () => undefined })).rejects.toThrow(UserError);
    await expect(openImageFolder(join(dir, "missing"), shape)).rejects.toThrow(/does not exist/);
  });

  it("decodes on the main thread when running from TypeScript sources", () => {
    expect(workerScriptAvailable()).toBe(false);
    expect(createDecoder({ threads: 3 }).threads).toBe(0);
    expect(() => createDecoder({ threads: -1 })).toThrow(/threads/);
  });
});
