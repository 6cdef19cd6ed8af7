/** Shared fixtures for the client/data tests: temporary folders and small encoded images. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { afterEach } from "vitest";

const made: string[] = [];

/** A fresh folder under the OS temp dir, removed after the current test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fedfusion-data-"));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** Encodes width×height pixels of 1 (gray), 3 (RGB) or 4 (RGBA) channels as a PNG of that colour type. */
export function pngBytes(width: number, height: number, channels: 1 | 3 | 4, data: ArrayLike<number>): Buffer {
  const colorType = ({ 1: 0, 3: 2, 4: 6 } as const)[channels];
  const png = new PNG();
  png.width = width;
  png.height = height;
  png.data = Buffer.from(Uint8Array.from(data));
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: channels === 4 });
}

/** Encodes RGB pixels as a high-quality JPEG. */
export function jpegBytes(width: number, height: number, rgb: ArrayLike<number>): Buffer {
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let p = 0; p < width * height; p++) for (let c = 0; c < 3; c++) rgba[p * 4 + c] = rgb[p * 3 + c];
  return jpeg.encode({ width, height, data: rgba }, 100).data;
}

/** width×height×channels bytes of a deterministic pattern, distinct per `seed`. */
export function pattern(width: number, height: number, channels: number, seed: number): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let i = 0; i < out.length; i++) out[i] = (i * 37 + seed * 101 + ((i * i) % 13)) % 256;
  return out;
}
