import { describe, expect, it } from "vitest";
import { convertChannels, luminance, reshapeDataset, resizeBilinear } from "../../../client/data/imageTransform.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { pattern } from "./helpers.js";

describe("channel conversion", () => {
  it("uses BT.601 luma for grayscale and keeps gray values exact", () => {
    expect(luminance(255, 0, 0)).toBe(76);
    expect(luminance(0, 255, 0)).toBe(150);
    expect(luminance(0, 0, 255)).toBe(29);
    for (let v = 0; v < 256; v++) expect(luminance(v, v, v)).toBe(v);
  });

  it("converts RGBA to RGB (alpha dropped) and to gray, and gray to RGB", () => {
    const rgba = Uint8Array.from([10, 20, 30, 0, 200, 100, 50, 255]);
    expect(Array.from(convertChannels(rgba, 2, 4, 3))).toEqual([10, 20, 30, 200, 100, 50]);
    expect(Array.from(convertChannels(rgba, 2, 4, 1))).toEqual([luminance(10, 20, 30), luminance(200, 100, 50)]);
    expect(Array.from(convertChannels(Uint8Array.from([7, 9]), 2, 1, 3))).toEqual([7, 7, 7, 9, 9, 9]);
  });
});

describe("bilinear resize", () => {
  it("is the identity at the same size", () => {
    const img = pattern(5, 4, 3, 1);
    expect(Array.from(resizeBilinear(img, 4, 5, 3, 4, 5))).toEqual(Array.from(img));
  });

  it("interpolates between pixel centres when enlarging (as TF with half-pixel centres)", () => {
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 100]), 1, 2, 1, 1, 4))).toEqual([0, 25, 75, 100]);
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 100]), 2, 1, 1, 4, 1))).toEqual([0, 25, 75, 100]);
  });

  it("averages over the covered pixels when shrinking, so fine detail does not alias", () => {
    // Triangle filter widened ×2: weights 0.75, 0.75, 0.25 over pixels 0–2 for the first output.
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 0, 100, 100]), 1, 4, 1, 1, 2))).toEqual([14, 86]);
    // Thin lines 8 px apart, shrunk 8×: every output is near the mean (255 / 8), where sampling only the two
    // pixels nearest each output centre would miss the lines and give 0.
    const lines = new Uint8Array(16 * 64).map((_, i) => (i % 64) % 8 === 0 ? 255 : 0);
    const small = resizeBilinear(lines, 16, 64, 1, 2, 8);
    small.forEach((v, i) => {
      const x = i % 8;
      // Away from the edges exactly the mean; at the edges the clipped filter sees one line among fewer pixels.
      if (x > 0 && x < 7) expect(Math.abs(v - 255 / 8)).toBeLessThan(1);
      else expect(v).toBeGreaterThan(15);
    });
  });

  it("keeps a constant image constant in every channel at any size", () => {
    const img = new Uint8Array(7 * 5 * 3).map((_, i) => [10, 130, 250][i % 3]);
    for (const [h, w] of [[3, 2], [20, 11], [7, 5], [1, 1]]) {
      const out = resizeBilinear(img, 7, 5, 3, h, w);
      expect(out.length).toBe(h * w * 3);
      out.forEach((v, i) => expect(v).toBe([10, 130, 250][i % 3]));
    }
  });
});

describe("reshapeDataset", () => {
  const gray: ImageDataset = {
    images: Uint8Array.from([0, 100, 0, 100, 50, 50, 50, 50]),
    labels: Uint8Array.from([0, 1]),
    count: 2,
    height: 2,
    width: 2,
    channels: 1,
    classNames: ["a", "b"],
  };

  it("returns the same dataset when the shape already matches", () => {
    expect(reshapeDataset(gray, { height: 2, width: 2, channels: 1 })).toBe(gray);
  });

  it("converts gray to RGB and resizes every image, keeping labels", () => {
    const out = reshapeDataset(gray, { height: 2, width: 4, channels: 3 });
    expect([out.height, out.width, out.channels, out.count]).toEqual([2, 4, 3, 2]);
    expect(out.images.length).toBe(2 * 2 * 4 * 3);
    expect(Array.from(out.images.subarray(0, 12))).toEqual([0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100]);
    expect(Array.from(out.images.subarray(24))).toEqual(new Array(24).fill(50));
    expect(Array.from(out.labels)).toEqual([0, 1]);
  });
});
