import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveDataset } from "../../../client/data/resolveDataset.js";
import { classHistogram } from "../../../shared/data/imageDataset.js";
import { UserError } from "../../../shared/errors.js";
import { pattern, pngBytes, tempDir } from "./helpers.js";

async function classFolder(dir: string, classes: Record<string, number>): Promise<void> {
  for (const [name, n] of Object.entries(classes)) {
    await mkdir(join(dir, name), { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(join(dir, name, `${i}.png`), pngBytes(6, 6, 3, pattern(6, 6, 3, i)));
  }
}

const quiet = { warn: () => {} };

describe("resolveDataset", () => {
  it("loads a built-in dataset by name, converted to the model's shape and class order on request", async () => {
    const cacheDir = await tempDir();
    const plain = await resolveDataset("mnist", { cacheDir });
    expect(plain.source).toBe("mnist");
    expect([plain.train.count, plain.test?.count]).toEqual([8499, 1501]);
    expect([plain.train.height, plain.train.width, plain.train.channels]).toEqual([28, 28, 1]);

    const classNames = ["9", "8", "7", "6", "5", "4", "3", "2", "1", "0", "extra"];
    const fitted = await resolveDataset("mnist", { cacheDir, height: 32, width: 32, channels: 3, classNames });
    expect([fitted.train.height, fitted.train.width, fitted.train.channels]).toEqual([32, 32, 3]);
    expect(fitted.train.images.length).toBe(8499 * 32 * 32 * 3);
    expect(fitted.train.classNames).toEqual(classNames);
    expect(fitted.train.labels[0]).toBe(9 - plain.train.labels[0]);
    expect(classHistogram(fitted.test!)).toEqual([...classHistogram(plain.test!)].reverse().concat([0]));

    await expect(resolveDataset("mnist", { cacheDir, classNames: ["0", "1"] })).rejects.toThrow(/class '2'/);
  });

  it("uses train/ and test/ sub-folders when present, labelling test by the training classes", async () => {
    const dir = await tempDir();
    await classFolder(join(dir, "train"), { cat: 3, dog: 2, emu: 1 });
    await classFolder(join(dir, "test"), { dog: 2 });
    const r = await resolveDataset(dir, { height: 6, width: 6, channels: 3, ...quiet });
    expect(r.train.count).toBe(6);
    expect(r.train.classNames).toEqual(["cat", "dog", "emu"]);
    expect(r.test?.count).toBe(2);
    expect(r.test?.classNames).toEqual(["cat", "dog", "emu"]);
    expect(Array.from(r.test!.labels)).toEqual([1, 1]);
  });

  it("treats a folder with only train/ as having no test set", async () => {
    const dir = await tempDir();
    await classFolder(join(dir, "train"), { a: 1, b: 1 });
    const r = await resolveDataset(dir, quiet);
    expect(r.train.count).toBe(2);
    expect(r.test).toBeUndefined();
  });

  it("treats a plain folder of class sub-folders as all training data, 28×28×1 by default", async () => {
    const dir = await tempDir();
    await classFolder(dir, { a: 2, b: 1 });
    await writeFile(join(dir, "b", "broken.png"), "x");
    const warnings: string[] = [];
    const r = await resolveDataset(dir, { warn: (m) => warnings.push(m) });
    expect(r.test).toBeUndefined();
    expect([r.train.count, r.train.height, r.train.width, r.train.channels]).toEqual([3, 28, 28, 1]);
    expect(r.skipped.map((s) => s.file)).toEqual([join(dir, "b", "broken.png")]);
    expect(warnings).toHaveLength(1);
  });

  it("rejects a test/ folder whose classes the training data lacks, and test/ without train/", async () => {
    const dir = await tempDir();
    await classFolder(join(dir, "train"), { cat: 1, dog: 1 });
    await classFolder(join(dir, "test"), { cow: 1 });
    await expect(resolveDataset(dir, quiet)).rejects.toThrow(/cow.*valid classes are cat, dog/);
    const onlyTest = await tempDir();
    await classFolder(join(onlyTest, "test"), { cat: 1 });
    await expect(resolveDataset(onlyTest, quiet)).rejects.toThrow(/no train\//);
  });

  it("rejects anything else with the one-line list of what is accepted", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "file.txt"), "x");
    for (const spec of ["cifar10", join(dir, "missing"), join(dir, "file.txt"), ""]) {
      const err = await resolveDataset(spec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toBe(`unknown dataset '${spec}': expected fashion-mnist, mnist or a folder of class sub-folders`);
    }
  });
});
