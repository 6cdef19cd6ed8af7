import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeDicom, isDicom } from "../../../client/data/dicom.js";
import { decodeImage, ImageDecodeError, sniffImageFormat } from "../../../client/data/decodeImage.js";
import { loadImageFolder } from "../../../client/data/imageFolder.js";
import { dicomBytes, samples16, TS, type DicomSpec } from "./dicomFiles.js";
import { pngBytes, tempDir } from "./helpers.js";

/** The gray values of a decoded DICOM image (checking that R = G = B and A = 255). */
function gray(spec: DicomSpec): number[] {
  const img = decodeDicom(dicomBytes(spec));
  expect([img.width, img.height]).toEqual([spec.columns, spec.rows]);
  const out: number[] = [];
  for (let p = 0; p < img.width * img.height; p++) {
    const [r, g, b, a] = img.rgba.subarray(p * 4, p * 4 + 4);
    expect([g, b, a]).toEqual([r, r, 255]);
    out.push(r);
  }
  return out;
}

/** PS3.3 C.11.2.1.2.1 LINEAR, written out independently of the decoder. */
function linearWindow(x: number, c: number, w: number): number {
  if (x <= c - 0.5 - (w - 1) / 2) return 0;
  if (x > c - 0.5 + (w - 1) / 2) return 255;
  return Math.round(((x - (c - 0.5)) / (w - 1) + 0.5) * 255);
}

function decodeError(bytes: Buffer): string {
  try {
    decodeImage(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ImageDecodeError);
    return (e as Error).message;
  }
  throw new Error("decoded without error");
}

const mono16 = (values: number[], extra: Partial<DicomSpec> = {}): DicomSpec => ({
  rows: 2,
  columns: values.length / 2,
  bitsAllocated: 16,
  pixelData: samples16(values, extra.transferSyntax === TS.explicitBE),
  ...extra,
});

describe("DICOM decoding", () => {
  it("is recognised by the DICM magic at offset 128, whatever the file is called", () => {
    const bytes = dicomBytes({ rows: 1, columns: 2, pixelData: Uint8Array.from([1, 2]) });
    expect(isDicom(bytes)).toBe(true);
    expect(sniffImageFormat(bytes)).toBe("dicom");
    expect(isDicom(Buffer.alloc(200))).toBe(false);
    expect(isDicom(bytes.subarray(0, 131))).toBe(false);
  });

  it("keeps 8-bit unsigned MONOCHROME2 values as they are", () => {
    const values = [0, 10, 20, 128, 200, 255];
    expect(gray({ rows: 2, columns: 3, pixelData: Uint8Array.from(values) })).toEqual(values);
  });

  it("inverts MONOCHROME1, where 0 is white", () => {
    expect(gray({ rows: 1, columns: 3, photometric: "MONOCHROME1", pixelData: Uint8Array.from([0, 100, 255]) })).toEqual([255, 155, 0]);
  });

  it("maps 16-bit values to bytes through WindowCenter/WindowWidth, masking bits above BitsStored", () => {
    const values = [0, 1000, 1500, 1501, 2000, 2200, 2499, 2500, 3000, 4095];
    const stored = values.map((v, i) => (i === 4 ? v | 0x8000 : v)); // an overlay bit above the 12 stored
    const out = gray(mono16(stored, { bitsStored: 12, windowCenter: "2000", windowWidth: "1000" }));
    expect(out).toEqual(values.map((v) => linearWindow(v, 2000, 1000)));
    expect(out[0]).toBe(0);
    expect(out[9]).toBe(255);
    expect(out[4]).toBe(128);
  });

  it("uses the first of several windows", () => {
    const values = [0, 1000, 2000, 3000];
    expect(gray(mono16(values, { windowCenter: "2000\\500", windowWidth: "1000\\100" }))).toEqual(values.map((v) => linearWindow(v, 2000, 1000)));
  });

  it("stretches the image's own range when there is no window", () => {
    expect(gray(mono16([100, 200, 300, 400]))).toEqual([0, 85, 170, 255]);
  });

  it("applies RescaleSlope/RescaleIntercept to signed values before windowing", () => {
    // CT-like: stored −1024…1976, HU = stored − 1024, a soft-tissue window (40, 400).
    const stored = [-1024, -24, 976, 1976, 0, 1100];
    const out = gray(mono16(stored, { pixelRepresentation: 1, rescaleIntercept: "-1024", rescaleSlope: "1", windowCenter: "40", windowWidth: "400" }));
    expect(out).toEqual(stored.map((v) => linearWindow(v - 1024, 40, 400)));
    // Without a window: slope and intercept, then min–max.
    const scaled = gray(mono16([-3, -1, 1, 3], { pixelRepresentation: 1, rescaleSlope: "2", rescaleIntercept: "10" }));
    expect(scaled).toEqual([0, 85, 170, 255]);
  });

  it("sign-extends signed values from BitsStored", () => {
    // 12 bits stored: 0xFFF is −1 and 0x800 is −2048; the window shows the sign is right.
    const out = gray(mono16([0xfff, 0x800, 0x7ff, 0], { bitsStored: 12, pixelRepresentation: 1, windowCenter: "0", windowWidth: "4" }));
    expect(out).toEqual([-1, -2048, 2047, 0].map((v) => linearWindow(v, 0, 4)));
  });

  it("reads implicit VR, explicit big endian and deflated files the same as explicit little endian", () => {
    const values = [5, 900, 1800, 2700, 3600, 4000];
    const spec = { bitsStored: 12, windowCenter: "2048", windowWidth: "4096" };
    const expected = gray(mono16(values, spec));
    for (const transferSyntax of [TS.implicitLE, TS.explicitBE, TS.deflatedLE]) {
      expect(gray(mono16(values, { ...spec, transferSyntax }))).toEqual(expected);
    }
  });

  it("decodes RGB, interleaved and planar", () => {
    const rgb = [10, 20, 30, 40, 50, 60];
    const planar = [10, 40, 20, 50, 30, 60];
    for (const [planarConfiguration, data] of [[0, rgb], [1, planar]] as const) {
      const img = decodeDicom(dicomBytes({ rows: 1, columns: 2, samplesPerPixel: 3, planarConfiguration, pixelData: Uint8Array.from(data) }));
      expect(Array.from(img.rgba)).toEqual([10, 20, 30, 255, 40, 50, 60, 255]);
    }
  });

  it("takes the first frame of a multi-frame file", () => {
    expect(gray({ rows: 1, columns: 2, numberOfFrames: 2, pixelData: Uint8Array.from([1, 2, 3, 4]) })).toEqual([1, 2]);
  });

  it("refuses compressed transfer syntaxes by name, and truncated files", () => {
    const compressed = (transferSyntax: string) =>
      dicomBytes({ rows: 8, columns: 8, transferSyntax, encapsulated: true, pixelData: Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]) });
    expect(decodeError(compressed(TS.jpegBaseline))).toMatch(/compressed DICOM \(transfer syntax JPEG Baseline, 1\.2\.840\.10008\.1\.2\.4\.50\)/);
    expect(decodeError(compressed(TS.jpeg2000))).toMatch(/JPEG 2000, 1\.2\.840\.10008\.1\.2\.4\.91/);
    expect(decodeError(compressed(TS.rle))).toMatch(/RLE Lossless/);
    const whole = dicomBytes(mono16([1, 2, 3, 4, 5, 6]));
    expect(decodeError(whole.subarray(0, whole.length - 5))).toMatch(/truncated/);
    expect(decodeError(whole.subarray(0, 150))).toMatch(/invalid DICOM/);
    expect(decodeError(dicomBytes({ rows: 1, columns: 1, photometric: "PALETTE COLOR", pixelData: Uint8Array.from([1]) }))).toMatch(/PALETTE COLOR/);
    expect(decodeError(dicomBytes({ rows: 1, columns: 1, bitsAllocated: 32, pixelData: new Uint8Array(4) }))).toMatch(/32 bits/);
  });
});

describe("DICOM in image folders", () => {
  it("loads .dcm files (and DICOM without the extension) beside PNGs, skipping compressed and truncated ones with a warning", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "ct"));
    await mkdir(join(dir, "xray"));
    const ct = dicomBytes(mono16([0, 1000, 2000, 3000], { windowCenter: "1500", windowWidth: "3000" }));
    await writeFile(join(dir, "ct", "1.dcm"), ct);
    await writeFile(join(dir, "ct", "2-no-extension"), dicomBytes({ rows: 2, columns: 2, photometric: "MONOCHROME1", pixelData: Uint8Array.from([0, 50, 100, 255]) }));
    await writeFile(join(dir, "ct", "3-jpeg.dcm"), dicomBytes({ rows: 2, columns: 2, transferSyntax: TS.jpegBaseline, encapsulated: true, pixelData: Uint8Array.from([1, 2]) }));
    await writeFile(join(dir, "ct", "4-truncated.dcm"), ct.subarray(0, ct.length - 3));
    await writeFile(join(dir, "xray", "5.png"), pngBytes(2, 2, 1, [9, 8, 7, 6]));
    const warnings: string[] = [];
    const { dataset, skipped } = await loadImageFolder(dir, { height: 2, width: 2, channels: 1, warn: (m) => warnings.push(m) });
    expect(dataset.count).toBe(3);
    expect(Array.from(dataset.labels)).toEqual([0, 0, 1]);
    expect(Array.from(dataset.images)).toEqual([
      ...[0, 1000, 2000, 3000].map((v) => linearWindow(v, 1500, 3000)),
      255, 205, 155, 0,
      9, 8, 7, 6,
    ]);
    expect(skipped.map((s) => s.file)).toEqual([join(dir, "ct", "3-jpeg.dcm"), join(dir, "ct", "4-truncated.dcm")]);
    expect(warnings[0]).toMatch(/^skipping .*3-jpeg\.dcm: compressed DICOM \(transfer syntax JPEG Baseline, 1\.2\.840\.10008\.1\.2\.4\.50\)/);
    expect(warnings[1]).toMatch(/^skipping .*4-truncated\.dcm: invalid DICOM \(truncated/);
  });
});
