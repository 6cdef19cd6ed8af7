/**
 * Decodes the image of a DICOM Part 10 file (medical imaging: CT, MR, X-ray, …) to 8-bit pixels, parsed
 * with cornerstonejs's dicom-parser. Supported: uncompressed pixel data (implicit or explicit VR little
 * endian, deflated explicit VR little endian, explicit VR big endian), MONOCHROME1/2 with 8 or 16 bits
 * allocated, signed or unsigned, and 8-bit RGB or YBR_FULL (interleaved or planar). Multi-frame files
 * give their first frame.
 *
 * Monochrome values go through the modality rescale (RescaleSlope/RescaleIntercept) and then the VOI
 * window to 0–255: the file's first WindowCenter/WindowWidth when present (LINEAR, LINEAR_EXACT or SIGMOID
 * per VOILUTFunction, PS3.3 C.11.2.1.2), else the image's own min–max range; 8-bit unsigned images with no
 * window and no rescale keep their values. MONOCHROME1 (0 = white) is inverted so that, as in every other
 * image, 0 is black.
 *
 * Compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, video) are not decoded: they fail with an
 * ImageDecodeError naming the transfer syntax, which the folder loaders turn into a "skipping" warning.
 */
import { createRequire } from "node:module";
import { ImageDecodeError, MAX_IMAGE_PIXELS, type DecodedImage } from "./decodeImage.js";

/** The part of dicom-parser's API used here (its own typings declare the same shapes). */
interface DicomElement {
  tag: string;
  length: number;
  dataOffset: number;
  hadUndefinedLength?: boolean;
  encapsulatedPixelData?: boolean;
}
interface DicomDataSet {
  byteArray: Uint8Array;
  elements: Record<string, DicomElement | undefined>;
  uint16(tag: string, index?: number): number | undefined;
  string(tag: string, index?: number): string | undefined;
  floatString(tag: string, index?: number): number | undefined;
}
interface DicomParserModule {
  parseDicom(bytes: Uint8Array, options?: Record<string, unknown>): DicomDataSet;
}

let parserModule: DicomParserModule | undefined;

/**
 * dicom-parser, loaded on the first DICOM file (a CommonJS/UMD bundle, so required rather than imported).
 * Without the package a DICOM file is skipped with a message saying what to install.
 */
function dicomParser(): DicomParserModule {
  if (!parserModule) {
    try {
      parserModule = createRequire(import.meta.url)("dicom-parser") as DicomParserModule;
    } catch {
      throw new ImageDecodeError("reading DICOM needs the npm package 'dicom-parser': run npm install dicom-parser");
    }
  }
  return parserModule;
}

/** "DICM" at offset 128, after the 128-byte preamble (PS3.10 §7.1). */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const DEFLATED_LE = "1.2.840.10008.1.2.1.99";
const EXPLICIT_BE = "1.2.840.10008.1.2.2";
const UNCOMPRESSED = new Set([IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE]);

/** Names of the compressed transfer syntaxes (PS3.6 Table A-1), for the warning. */
const COMPRESSED: Record<string, string> = {
  "1.2.840.10008.1.2.4.50": "JPEG Baseline",
  "1.2.840.10008.1.2.4.51": "JPEG Extended",
  "1.2.840.10008.1.2.4.57": "JPEG Lossless",
  "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
  "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
  "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
  "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.91": "JPEG 2000",
  "1.2.840.10008.1.2.4.92": "JPEG 2000 Part 2 Multi-component Lossless",
  "1.2.840.10008.1.2.4.93": "JPEG 2000 Part 2 Multi-component",
  "1.2.840.10008.1.2.4.94": "JPIP Referenced",
  "1.2.840.10008.1.2.4.95": "JPIP Referenced Deflate",
  "1.2.840.10008.1.2.4.100": "MPEG2 Main Profile",
  "1.2.840.10008.1.2.4.101": "MPEG2 High Profile",
  "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
  "1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD-compatible",
  "1.2.840.10008.1.2.4.104": "MPEG-4 AVC/H.264 2D",
  "1.2.840.10008.1.2.4.105": "MPEG-4 AVC/H.264 3D",
  "1.2.840.10008.1.2.4.106": "MPEG-4 AVC/H.264 Stereo",
  "1.2.840.10008.1.2.4.107": "HEVC/H.265 Main Profile",
  "1.2.840.10008.1.2.4.108": "HEVC/H.265 Main 10 Profile",
  "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 Lossless",
  "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 RPCL Lossless",
  "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000",
  "1.2.840.10008.1.2.5": "RLE Lossless",
};

const TAG = {
  transferSyntax: "x00020010",
  samplesPerPixel: "x00280002",
  photometric: "x00280004",
  planarConfiguration: "x00280006",
  numberOfFrames: "x00280008",
  rows: "x00280010",
  columns: "x00280011",
  bitsAllocated: "x00280100",
  bitsStored: "x00280101",
  highBit: "x00280102",
  pixelRepresentation: "x00280103",
  windowCenter: "x00281050",
  windowWidth: "x00281051",
  rescaleIntercept: "x00281052",
  rescaleSlope: "x00281053",
  voiLutFunction: "x00281056",
  pixelData: "x7fe00010",
} as const;

/** Decodes a DICOM Part 10 file (see isDicom) to RGBA; every failure is an ImageDecodeError. */
export function decodeDicom(bytes: Buffer): DecodedImage {
  const ds = parse(bytes);
  const syntax = ds.string(TAG.transferSyntax)?.replace(/\0/g, "").trim() ?? "";
  if (!UNCOMPRESSED.has(syntax)) {
    const name = COMPRESSED[syntax];
    throw new ImageDecodeError(
      name
        ? `compressed DICOM (transfer syntax ${name}, ${syntax}) is not supported: only uncompressed DICOM is read; decompress it first (e.g. gdcmconv --raw or dcmdjpeg)`
        : `DICOM transfer syntax '${syntax}' is not supported: only uncompressed (implicit/explicit VR little endian) DICOM is read`,
    );
  }
  const pixelElement = ds.elements[TAG.pixelData];
  if (!pixelElement) throw new ImageDecodeError("DICOM file has no pixel data (7FE0,0010)");
  if (pixelElement.encapsulatedPixelData || pixelElement.hadUndefinedLength) {
    throw new ImageDecodeError(`DICOM pixel data is encapsulated (compressed) although the transfer syntax ${syntax} is uncompressed`);
  }

  const rows = ds.uint16(TAG.rows) ?? 0;
  const cols = ds.uint16(TAG.columns) ?? 0;
  if (rows === 0 || cols === 0) throw new ImageDecodeError(`invalid DICOM (image size ${cols}×${rows})`);
  if (rows * cols > MAX_IMAGE_PIXELS) throw new ImageDecodeError(`image too large (${cols}×${rows}, limit ${MAX_IMAGE_PIXELS} pixels)`);
  const samples = ds.uint16(TAG.samplesPerPixel) ?? 1;
  const photometric = (ds.string(TAG.photometric) ?? (samples === 3 ? "RGB" : "MONOCHROME2")).trim().toUpperCase();
  const bitsAllocated = ds.uint16(TAG.bitsAllocated) ?? 0;
  const bitsStored = ds.uint16(TAG.bitsStored) ?? bitsAllocated;
  const highBit = ds.uint16(TAG.highBit) ?? bitsStored - 1;
  const signed = (ds.uint16(TAG.pixelRepresentation) ?? 0) === 1;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new ImageDecodeError(`DICOM with ${bitsAllocated} bits allocated per sample is not supported (only 8 or 16)`);
  }
  if (!(bitsStored >= 1 && bitsStored <= bitsAllocated && highBit >= bitsStored - 1 && highBit < bitsAllocated)) {
    throw new ImageDecodeError(`invalid DICOM (bits stored ${bitsStored}, high bit ${highBit}, bits allocated ${bitsAllocated})`);
  }

  const pixels = rows * cols;
  const bytesPerSample = bitsAllocated / 8;
  const frameBytes = pixels * samples * bytesPerSample;
  const offset = pixelElement.dataOffset;
  // dicom-parser does not check a value's length against the data that is there: a truncated file still
  // parses, with a pixel data element that runs past the end.
  const available = Math.min(pixelElement.length, ds.byteArray.length - offset);
  if (available < frameBytes) {
    throw new ImageDecodeError(`invalid DICOM (truncated: pixel data has ${Math.max(0, available)} of ${frameBytes} bytes)`);
  }
  const data = ds.byteArray;
  const bigEndian = syntax === EXPLICIT_BE;

  if (photometric === "MONOCHROME1" || photometric === "MONOCHROME2") {
    if (samples !== 1) throw new ImageDecodeError(`invalid DICOM (${photometric} with ${samples} samples per pixel)`);
    const values = readSamples(data, offset, pixels, bytesPerSample, bigEndian, bitsStored, highBit, signed);
    const gray = toBytes(values, {
      slope: ds.floatString(TAG.rescaleSlope) ?? 1,
      intercept: ds.floatString(TAG.rescaleIntercept) ?? 0,
      center: ds.floatString(TAG.windowCenter),
      width: ds.floatString(TAG.windowWidth),
      fn: (ds.string(TAG.voiLutFunction) ?? "LINEAR").trim().toUpperCase(),
      identity: bitsAllocated === 8 && !signed,
    });
    if (photometric === "MONOCHROME1") for (let i = 0; i < pixels; i++) gray[i] = 255 - gray[i];
    const rgba = new Uint8Array(pixels * 4);
    for (let i = 0; i < pixels; i++) {
      const v = gray[i];
      rgba[i * 4] = v;
      rgba[i * 4 + 1] = v;
      rgba[i * 4 + 2] = v;
      rgba[i * 4 + 3] = 255;
    }
    return { width: cols, height: rows, rgba };
  }

  if (photometric === "RGB" || photometric === "YBR_FULL") {
    if (samples !== 3) throw new ImageDecodeError(`invalid DICOM (${photometric} with ${samples} samples per pixel)`);
    if (bitsAllocated !== 8) throw new ImageDecodeError(`DICOM ${photometric} with ${bitsAllocated} bits per sample is not supported (only 8)`);
    const planar = (ds.uint16(TAG.planarConfiguration) ?? 0) === 1;
    const rgba = new Uint8Array(pixels * 4);
    for (let i = 0; i < pixels; i++) {
      let a: number, b: number, c: number;
      if (planar) {
        a = data[offset + i];
        b = data[offset + pixels + i];
        c = data[offset + 2 * pixels + i];
      } else {
        a = data[offset + i * 3];
        b = data[offset + i * 3 + 1];
        c = data[offset + i * 3 + 2];
      }
      if (photometric === "YBR_FULL") {
        // PS3.3 C.7.6.3.1.2: full-range YCbCr (ITU-R BT.601) to RGB.
        const y = a, cb = b - 128, cr = c - 128;
        a = clampByte(y + 1.402 * cr);
        b = clampByte(y - 0.344136 * cb - 0.714136 * cr);
        c = clampByte(y + 1.772 * cb);
      }
      rgba[i * 4] = a;
      rgba[i * 4 + 1] = b;
      rgba[i * 4 + 2] = c;
      rgba[i * 4 + 3] = 255;
    }
    return { width: cols, height: rows, rgba };
  }
  throw new ImageDecodeError(`DICOM photometric interpretation ${photometric} is not supported (only MONOCHROME1, MONOCHROME2, RGB, YBR_FULL)`);
}

function parse(bytes: Buffer): DicomDataSet {
  const parser = dicomParser();
  try {
    return parser.parseDicom(bytes);
  } catch (err) {
    // dicom-parser throws strings, Errors, or {exception, dataSet} when the data set itself fails.
    const inner = (err as { exception?: unknown } | null)?.exception ?? err;
    const msg = (inner instanceof Error ? inner.message : String(inner)).replace(/^dicomParser[.:]\w+: /, "");
    const truncated = /overrun|overread|past end|beyond|end of buffer/i.test(msg);
    throw new ImageDecodeError(`invalid DICOM (${truncated ? "truncated: " : ""}${msg})`);
  }
}

/**
 * The stored values of the first frame as numbers: bits outside [highBit − bitsStored + 1, highBit] masked
 * off (overlays and padding may live there), sign-extended from bitsStored when signed.
 */
function readSamples(
  data: Uint8Array,
  offset: number,
  count: number,
  bytesPerSample: number,
  bigEndian: boolean,
  bitsStored: number,
  highBit: number,
  signed: boolean,
): Float64Array {
  const out = new Float64Array(count);
  const shift = highBit + 1 - bitsStored;
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const signBit = 1 << (bitsStored - 1);
  for (let i = 0; i < count; i++) {
    let raw: number;
    if (bytesPerSample === 1) raw = data[offset + i];
    else {
      const p = offset + i * 2;
      raw = bigEndian ? (data[p] << 8) | data[p + 1] : data[p] | (data[p + 1] << 8);
    }
    let v = (raw >>> shift) & mask;
    if (signed && v & signBit) v -= 1 << bitsStored;
    out[i] = v;
  }
  return out;
}

interface Mapping {
  slope: number;
  intercept: number;
  center: number | undefined;
  width: number | undefined;
  fn: string;
  /** 8-bit unsigned: with no window and no rescale the values are already display bytes. */
  identity: boolean;
}

/** Modality rescale, then the VOI window (or min–max) to bytes. */
function toBytes(values: Float64Array, m: Mapping): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n);
  const slope = Number.isFinite(m.slope) && m.slope !== 0 ? m.slope : 1;
  const intercept = Number.isFinite(m.intercept) ? m.intercept : 0;
  const rescaled = slope !== 1 || intercept !== 0;
  if (rescaled) for (let i = 0; i < n; i++) values[i] = values[i] * slope + intercept;
  const c = m.center;
  const w = m.width;
  const windowed = c !== undefined && w !== undefined && Number.isFinite(c) && Number.isFinite(w) && w >= 1;
  if (windowed) {
    if (m.fn === "SIGMOID") {
      for (let i = 0; i < n; i++) out[i] = clampByte(255 / (1 + Math.exp((-4 * (values[i] - c)) / w)));
    } else if (m.fn === "LINEAR_EXACT") {
      for (let i = 0; i < n; i++) out[i] = clampByte(((values[i] - c) / w + 0.5) * 255);
    } else {
      // LINEAR (PS3.3 C.11.2.1.2.1): the window's centre is at c − 0.5 and its span is w − 1.
      const lo = c - 0.5 - (w - 1) / 2;
      const hi = c - 0.5 + (w - 1) / 2;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        out[i] = v <= lo ? 0 : v > hi ? 255 : w === 1 ? 255 : clampByte(((v - (c - 0.5)) / (w - 1) + 0.5) * 255);
      }
    }
    return out;
  }
  if (m.identity && !rescaled) {
    for (let i = 0; i < n; i++) out[i] = values[i];
    return out;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (max > min) {
    const scale = 255 / (max - min);
    for (let i = 0; i < n; i++) out[i] = clampByte((values[i] - min) * scale);
  }
  return out;
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}
