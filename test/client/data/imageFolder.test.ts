import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadImageFolder, type ImageFolderOptions } from "../../../client/data/imageFolder.js";
import { luminance } from "../../../client/data/imageTransform.js";
import { UserError } from "../../../shared/errors.js";
import { jpegBytes, pattern, pngBytes, tempDir } from "./helpers.js";

/** Creates `files` (path relative to a new temp folder → contents) and returns the folder. */
async function folder(files: Record<string, Buffer | string>): Promise<string> {
  const dir = await tempDir();
  for (const [rel, data] of Object.entries(files)) {
    await mkdir(join(dir, rel, ".."), { recursive: true });
    await writeFile(join(dir, rel), data);
  }
  return dir;
}

function opts(extra: Partial<ImageFolderOptions> = {}): ImageFolderOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return { height: 4, width: 4, channels: 3, warn: (m) => warnings.push(m), warnings, ...extra };
}

const rgb = (seed: number) => pattern(4, 4, 3, seed);
/** A solid colour survives JPEG compression almost exactly. */
const solid = (r: number, g: number, b: number, n = 16) => Uint8Array.from({ length: n * 3 }, (_, i) => [r, g, b][i % 3]);

describe("loadImageFolder", () => {
  it("loads PNG and JPEG files from class sub-folders, in name order, labelled by sorted folder names", async () => {
    const dir = await folder({
      "dog/b.png": pngBytes(4, 4, 3, rgb(2)),
      "dog/a.png": pngBytes(4, 4, 3, rgb(1)),
      "cat/x.jpg": jpegBytes(4, 4, solid(200, 40, 90)),
      "cat/sub/y.png": pngBytes(4, 4, 3, rgb(3)),
    });
    const o = opts();
    const { dataset: d, skipped } = await loadImageFolder(dir, o);
    expect(skipped).toEqual([]);
    expect(o.warnings).toEqual([]);
    expect(d.classNames).toEqual(["cat", "dog"]);
    expect([d.count, d.height, d.width, d.channels]).toEqual([4, 4, 4, 3]);
    // cat/sub/y.png sorts before cat/x.jpg ("sub" < "x.jpg"), then dog/a, dog/b.
    expect(Array.from(d.labels)).toEqual([0, 0, 1, 1]);
    expect(Array.from(d.images.subarray(0, 48))).toEqual(Array.from(rgb(3)));
    const jpegPixels = d.images.subarray(48, 96);
    jpegPixels.forEach((v, i) => expect(Math.abs(v - [200, 40, 90][i % 3])).toBeLessThanOrEqual(3));
    expect(Array.from(d.images.subarray(96, 144))).toEqual(Array.from(rgb(1)));
    expect(Array.from(d.images.subarray(144))).toEqual(Array.from(rgb(2)));
  });

  it("recognises the format by content, not by the file name", async () => {
    const dir = await folder({
      "a/png-named.jpg": pngBytes(4, 4, 3, rgb(5)),
      "a/jpeg-named.png": jpegBytes(4, 4, solid(10, 200, 10)),
      "a/no-extension": pngBytes(4, 4, 3, rgb(6)),
    });
    const { dataset: d, skipped } = await loadImageFolder(dir, opts());
    expect(skipped).toEqual([]);
    expect(d.count).toBe(3);
    expect(Array.from(d.images.subarray(48, 96))).toEqual(Array.from(rgb(6)));
    expect(Array.from(d.images.subarray(96, 144))).toEqual(Array.from(rgb(5)));
  });

  it("converts RGB to grayscale by luminance, and gray and RGBA to RGB", async () => {
    const colour = rgb(9);
    const dir = await folder({
      "a/1.png": pngBytes(4, 4, 3, colour),
      "b/2.png": pngBytes(4, 4, 1, pattern(4, 4, 1, 4)),
      "c/3.png": pngBytes(4, 4, 4, pattern(4, 4, 4, 8)),
    });
    const gray = (await loadImageFolder(dir, opts({ channels: 1 }))).dataset;
    expect(gray.channels).toBe(1);
    expect(gray.images.length).toBe(3 * 16);
    expect(Array.from(gray.images.subarray(0, 16))).toEqual(
      Array.from({ length: 16 }, (_, p) => luminance(colour[p * 3], colour[p * 3 + 1], colour[p * 3 + 2])),
    );
    expect(Array.from(gray.images.subarray(16, 32))).toEqual(Array.from(pattern(4, 4, 1, 4)));

    const colourOut = (await loadImageFolder(dir, opts({ channels: 3 }))).dataset;
    const g = pattern(4, 4, 1, 4);
    expect(Array.from(colourOut.images.subarray(48, 96))).toEqual(Array.from(g).flatMap((v) => [v, v, v]));
    const rgba = pattern(4, 4, 4, 8);
    expect(Array.from(colourOut.images.subarray(96))).toEqual(Array.from({ length: 48 }, (_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)]));
  });

  it("resizes every image to the requested size", async () => {
    const dir = await folder({
      "a/big.png": pngBytes(40, 30, 3, solid(90, 120, 150, 1200)),
      "a/small.jpg": jpegBytes(3, 5, solid(0, 0, 250, 15)),
    });
    const { dataset: d } = await loadImageFolder(dir, opts({ height: 8, width: 6 }));
    expect([d.height, d.width, d.count]).toEqual([8, 6, 2]);
    expect(d.images.length).toBe(2 * 8 * 6 * 3);
    d.images.subarray(0, 144).forEach((v, i) => expect(v).toBe([90, 120, 150][i % 3]));
    d.images.subarray(144).forEach((v, i) => expect(Math.abs(v - [0, 0, 250][i % 3])).toBeLessThanOrEqual(4));
  });

  it("maps sub-folders onto the federation's class list, allowing missing classes", async () => {
    const dir = await folder({ "dog/1.png": pngBytes(4, 4, 3, rgb(1)), "cat/1.png": pngBytes(4, 4, 3, rgb(2)) });
    const classNames = ["airplane", "cat", "bird", "dog"];
    const { dataset: d } = await loadImageFolder(dir, opts({ classNames }));
    expect(d.classNames).toEqual(classNames);
    expect(Array.from(d.labels)).toEqual([1, 3]);
  });

  it("rejects a class folder that is not in the federation's list, naming it and the valid classes", async () => {
    const dir = await folder({ "dog/1.png": pngBytes(4, 4, 3, rgb(1)), "zebra/1.png": pngBytes(4, 4, 3, rgb(2)) });
    const err = await loadImageFolder(dir, opts({ classNames: ["cat", "dog"] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain(join(dir, "zebra"));
    expect((err as Error).message).toContain("cat, dog");
  });

  it("skips corrupt, truncated and non-image files with one warning each", async () => {
    const good = pngBytes(4, 4, 3, rgb(1));
    const jpg = jpegBytes(4, 4, solid(1, 2, 3));
    const dir = await folder({
      "a/0-good.png": good,
      "a/1-truncated.png": good.subarray(0, good.length - 20),
      "a/2-truncated.jpg": jpg.subarray(0, Math.floor(jpg.length / 2)),
      "a/3-notes.txt": "not an image",
      "a/4-empty.png": Buffer.alloc(0),
      "a/5-anim.gif": Buffer.from("GIF89a\x01\x00\x01\x00", "latin1"),
      "a/6-garbage.png": Buffer.concat([good.subarray(0, 40), Buffer.alloc(60, 7)]),
      "a/.DS_Store": "metadata",
      "b/7-good.jpg": jpg,
    });
    const o = opts();
    const { dataset: d, skipped } = await loadImageFolder(dir, o);
    expect(d.count).toBe(2);
    expect(Array.from(d.labels)).toEqual([0, 1]);
    expect(Array.from(d.images.subarray(0, 48))).toEqual(Array.from(rgb(1)));
    expect(skipped.map((s) => s.file)).toEqual(
      ["1-truncated.png", "2-truncated.jpg", "3-notes.txt", "4-empty.png", "5-anim.gif", "6-garbage.png"].map((f) => join(dir, "a", f)),
    );
    expect(skipped[0].reason).toMatch(/PNG.*truncated/);
    expect(skipped[1].reason).toMatch(/JPEG/);
    expect(skipped[2].reason).toBe("not a PNG, JPEG or DICOM image");
    expect(skipped[3].reason).toBe("empty file");
    expect(skipped[4].reason).toMatch(/GIF/);
    expect(o.warnings).toHaveLength(6);
    expect(o.warnings[0]).toBe(`skipping ${skipped[0].file}: ${skipped[0].reason}`);
  });

  it("gives the same result whatever the concurrency", async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 30; i++) files[`${["x", "y", "z"][i % 3]}/${i}.png`] = pngBytes(5, 3, 3, pattern(5, 3, 3, i));
    const dir = await folder(files);
    const one = (await loadImageFolder(dir, opts({ concurrency: 1 }))).dataset;
    const many = (await loadImageFolder(dir, opts({ concurrency: 16 }))).dataset;
    expect(Buffer.from(many.images).equals(Buffer.from(one.images))).toBe(true);
    expect(Array.from(many.labels)).toEqual(Array.from(one.labels));
  });

  it("reports folders that cannot be a dataset as UserErrors", async () => {
    const base = await tempDir();
    await expect(loadImageFolder(join(base, "missing"), opts())).rejects.toThrow(/does not exist/);
    await writeFile(join(base, "file.png"), pngBytes(4, 4, 3, rgb(1)));
    await expect(loadImageFolder(join(base, "file.png"), opts())).rejects.toThrow(/is not a folder/);
    const flat = await folder({ "loose.png": pngBytes(4, 4, 3, rgb(1)) });
    await expect(loadImageFolder(flat, opts())).rejects.toThrow(/no class sub-folders/);
    const empty = await folder({ "a/.hidden": "x" });
    await mkdir(join(empty, "b"));
    await expect(loadImageFolder(empty, opts())).rejects.toThrow(/no image files/);
    const broken = await folder({ "a/1.png": "nope", "a/2.png": "nope" });
    const err = await loadImageFolder(broken, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/no readable images: all 2 files were skipped/);
  });
});
