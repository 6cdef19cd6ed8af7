import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadImageFolder } from "../../../client/data/imageFolder.js";
import { writeImageFolder } from "../../../client/data/writeImageFolder.js";
import { subset, type ImageDataset } from "../../../shared/data/imageDataset.js";
import { UserError } from "../../../shared/errors.js";
import { pattern, tempDir } from "./helpers.js";

function dataset(channels: 1 | 3, count: number, classNames: string[]): ImageDataset {
  const size = 7 * 5 * channels;
  const images = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) images.set(pattern(5, 7, channels, i), i * size);
  // Labels deliberately not grouped by class.
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % classNames.length);
  return { images, labels, count, height: 7, width: 5, channels, classNames };
}

/** `d`'s examples in the order a reload yields them: by class folder name, then by original index. */
function byClass(d: ImageDataset): ImageDataset {
  const name = (i: number) => d.classNames[d.labels[i]];
  const order = Array.from({ length: d.count }, (_, i) => i).sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : a - b));
  return subset(d, order);
}

describe("writeImageFolder", () => {
  it.each([1, 3] as const)("round-trips %i-channel images exactly through loadImageFolder", async (channels) => {
    const d = dataset(channels, 12, ["zebra", "ant", "moth"]);
    const dir = join(await tempDir(), "out");
    await writeImageFolder(dir, d);
    expect((await readdir(dir)).sort()).toEqual(["ant", "moth", "zebra"]);
    // Zero-padded names keep index order when sorted by name.
    expect((await readdir(join(dir, "zebra"))).sort()).toEqual(["00.png", "03.png", "06.png", "09.png"]);

    const warnings: string[] = [];
    const { dataset: back, skipped } = await loadImageFolder(dir, {
      height: 7,
      width: 5,
      channels,
      classNames: d.classNames,
      warn: (m) => warnings.push(m),
    });
    expect(skipped).toEqual([]);
    expect(warnings).toEqual([]);
    const want = byClass(d);
    expect(back.classNames).toEqual(d.classNames);
    expect([back.count, back.height, back.width, back.channels]).toEqual([12, 7, 5, channels]);
    expect(Array.from(back.labels)).toEqual(Array.from(want.labels));
    expect(Buffer.from(back.images).equals(Buffer.from(want.images))).toBe(true);
  });

  it("writes a folder for every class, so sorted class names reload as the same list", async () => {
    const d = subset(dataset(1, 6, ["a", "b", "c"]), [0, 3]); // labels 0 and 0 only (0·7 % 3, 3·7 % 3)
    const dir = join(await tempDir(), "out");
    await writeImageFolder(dir, d);
    const { dataset: back } = await loadImageFolder(dir, { height: 7, width: 5, channels: 1 });
    expect(back.classNames).toEqual(["a", "b", "c"]);
    expect(back.count).toBe(2);
  });

  it("refuses a non-empty folder and class names that are not safe folder names", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "old.png"), "x");
    await expect(writeImageFolder(dir, dataset(1, 2, ["a", "b"]))).rejects.toThrow(/not empty/);
    const fresh = join(await tempDir(), "out");
    await expect(writeImageFolder(fresh, dataset(1, 2, ["a", "../b"]))).rejects.toThrow(UserError);
    await expect(writeImageFolder(fresh, dataset(1, 2, ["a", ".b"]))).rejects.toThrow(UserError);
    await expect(writeImageFolder(fresh, dataset(1, 2, ["a", "a"]))).rejects.toThrow(/duplicate/);
  });
});
