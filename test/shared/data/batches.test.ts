import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { beforeAll, describe, expect, it } from "vitest";
import { Augmenter, validateAugment, type AugmentConfig } from "../../../shared/data/augment.js";
import { identityOrder, jsUnitPixels, makeBatch } from "../../../shared/data/batches.js";
import { nativeAddon } from "../../../shared/backends/native/nativeAddon.js";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { UserError } from "../../../shared/errors.js";
import { Random } from "../../../shared/random.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** count copies-with-variation of an asymmetric h×w×c image; pixel (i, y, x, ch) = distinct byte. */
function dataset(count: number, h: number, w: number, c: number): ImageDataset {
  const images = new Uint8Array(count * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = (i * 7 + 3) % 251;
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count, height: h, width: w, channels: c, classNames: ["a", "b", "c"] };
}

/** The batch's pixels as [n][y][x][c] numbers. */
function pixels(x: tf.Tensor4D): number[][][][] {
  return x.arraySync();
}

/** Image i of `d` as [y][x][c] floats, moved by (dy, dx) and optionally mirrored, zero outside. */
function expected(d: ImageDataset, i: number, flip: boolean, dy: number, dx: number): number[][][] {
  const { height: h, width: w, channels: c } = d;
  return Array.from({ length: h }, (_, y) =>
    Array.from({ length: w }, (_, x) =>
      Array.from({ length: c }, (_, ch) => {
        const sy = y + dy;
        const sx = (flip ? w - 1 - x : x) + dx;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) return 0;
        return Math.fround(d.images[((i * h + sy) * w + sx) * c + ch] / 255);
      }),
    ),
  );
}

describe("pixels to floats", () => {
  it("the addon's batch conversion gives the JavaScript's floats for every byte value, in the given order", () => {
    const addon = nativeAddon();
    expect(addon, "the native addon is built in CI").not.toBeNull();
    const images = Uint8Array.from({ length: 3 * 256 }, (_, i) => (i * 97) % 256);
    const order = Uint32Array.from([2, 0, 1, 2]);
    const want = new Float32Array(3 * 256);
    const got = new Float32Array(3 * 256).fill(NaN);
    jsUnitPixels(images, order, 1, 4, 256, want);
    addon!.unitPixels(images, order, 1, 4, 256, got);
    expect(got).toEqual(want);
    expect(new Set(want).size).toBe(256);
    expect(want[0]).toBe(Math.fround(images[0] / 255));
  });

  it("the addon refuses an example outside the images, or a batch that does not fit its output, before writing", () => {
    const addon = nativeAddon()!;
    const out = new Float32Array(8);
    expect(() => addon.unitPixels(new Uint8Array(8), Uint32Array.from([0, 2]), 0, 2, 4, out)).toThrow(/unitPixels: an example index is outside the images/);
    expect(() => addon.unitPixels(new Uint8Array(16), Uint32Array.from([0, 1, 2]), 0, 3, 4, out)).toThrow(/out is too small/);
    expect(out.every((v) => v === 0)).toBe(true);
  });

  it("a plain array as the order gives the same batch as a Uint32Array", () => {
    const d = dataset(5, 3, 4, 2);
    const a = makeBatch(d, [4, 0, 2], 0, 3);
    const b = makeBatch(d, Uint32Array.from([4, 0, 2]), 0, 3);
    expect(a.x.dataSync()).toEqual(b.x.dataSync());
    tf.dispose([a.x, a.y, b.x, b.y]);
  });
});

describe("makeBatch", () => {
  it("rescales pixels to [0, 1] and one-hot encodes labels, in the given order", () => {
    const d = dataset(5, 3, 4, 2);
    const order = Uint32Array.from([4, 0, 2]);
    const { x, y } = makeBatch(d, order, 1, 3);
    expect(x.shape).toEqual([2, 3, 4, 2]);
    expect(pixels(x)).toEqual([expected(d, 0, false, 0, 0), expected(d, 2, false, 0, 0)]);
    expect(y.arraySync()).toEqual([
      [1, 0, 0],
      [0, 0, 1],
    ]);
    tf.dispose([x, y]);
  });

  it("mirrors images left–right when flipping", () => {
    const d = dataset(1, 3, 5, 3);
    const order = new Uint32Array(40); // the same image 40 times
    const aug = new Augmenter({ flip: true, cropPadding: 0 }, new Random(7));
    const { x, y } = makeBatch(d, order, 0, 40, aug);
    const plain = expected(d, 0, false, 0, 0);
    const mirrored = expected(d, 0, true, 0, 0);
    expect(mirrored[0][0]).toEqual(plain[0][4]);
    const out = pixels(x);
    const flips = out.filter((img) => JSON.stringify(img) === JSON.stringify(mirrored)).length;
    const same = out.filter((img) => JSON.stringify(img) === JSON.stringify(plain)).length;
    expect(flips + same).toBe(40);
    expect(flips).toBeGreaterThan(5);
    expect(same).toBeGreaterThan(5);
    tf.dispose([x, y]);
  });

  it("crops with zero padding at the drawn offsets, and replays the same draws from the same seed", () => {
    const d = dataset(2, 6, 6, 1);
    const order = Uint32Array.from({ length: 30 }, (_, i) => i % 2);
    const config: AugmentConfig = { flip: true, cropPadding: 2 };
    const draws = new Augmenter(config, new Random(11));
    const want = Array.from(order, (i) => {
      const { flip, dy, dx } = draws.draw();
      expect(Math.abs(dy)).toBeLessThanOrEqual(2);
      expect(Math.abs(dx)).toBeLessThanOrEqual(2);
      return expected(d, i, flip, dy, dx);
    });
    const { x, y } = makeBatch(d, order, 0, 30, new Augmenter(config, new Random(11)));
    const got = pixels(x);
    expect(got).toEqual(want);
    // Some crops really moved the image (zeros came in from the padding).
    expect(got.some((img) => img.flat(2).filter((v) => v === 0).length > 0)).toBe(true);
    const other = makeBatch(d, order, 0, 30, new Augmenter(config, new Random(12)));
    expect(pixels(other.x)).not.toEqual(got);
    tf.dispose([x, y, other.x, other.y]);
  });

  it("refuses invalid augmentation settings", () => {
    expect(() => validateAugment({ flip: true, cropPadding: -1 })).toThrow(UserError);
    expect(() => validateAugment({ flip: true, cropPadding: 1.5 })).toThrow(/cropPadding/);
    expect(() => validateAugment({ flip: "yes" as unknown as boolean, cropPadding: 0 })).toThrow(/flip/);
  });

  it("identityOrder is 0..n-1", () => {
    expect(Array.from(identityOrder(4))).toEqual([0, 1, 2, 3]);
  });
});
