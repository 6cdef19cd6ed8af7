/**
 * Decodes a PNG, JPEG or DICOM file's bytes to RGBA. The format is chosen by the content's signature, not
 * the file name, since image collections often carry misnamed files (a PNG saved as .jpg, DICOM files with
 * no extension at all). Every failure is an ImageDecodeError whose message is a short reason fit for a
 * "skipping <file>: <reason>" warning.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { decodeDicom, isDicom } from "./dicom.js";

export interface DecodedImage {
  width: number;
  height: number;
  /** width × height × 4 bytes. */
  rgba: Uint8Array;
}

export class ImageDecodeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ImageDecodeError";
  }
}

/**
 * Refuse images above this many pixels before decoding them: a small file can declare a huge canvas
 * (a "decompression bomb"), and one such file must not exhaust the memory of a client loading thousands.
 */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];

/** Other formats recognised only to say what a skipped file was. */
const OTHER_FORMATS: { name: string; matches: (b: Uint8Array) => boolean }[] = [
  { name: "GIF", matches: (b) => ascii(b, 0, 4) === "GIF8" },
  { name: "WebP", matches: (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP" },
  { name: "BMP", matches: (b) => ascii(b, 0, 2) === "BM" },
  { name: "TIFF", matches: (b) => ascii(b, 0, 4) === "II*\0" || ascii(b, 0, 4) === "MM\0*" },
  { name: "HEIF/AVIF", matches: (b) => ascii(b, 4, 8) === "ftyp" },
];

export type ImageFormat = "png" | "jpeg" | "dicom";

/** The image format by signature, or undefined when the bytes are none of PNG, JPEG and DICOM. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return "png";
  if (startsWith(bytes, JPEG_SIGNATURE)) return "jpeg";
  if (isDicom(bytes)) return "dicom";
  return undefined;
}

export function decodeImage(bytes: Buffer): DecodedImage {
  if (bytes.length === 0) throw new ImageDecodeError("empty file");
  const format = sniffImageFormat(bytes);
  if (format === "png") return decodePng(bytes);
  if (format === "jpeg") return decodeJpeg(bytes);
  if (format === "dicom") return decodeDicom(bytes);
  const other = OTHER_FORMATS.find((f) => f.matches(bytes));
  throw new ImageDecodeError(
    other ? `${other.name} images are not supported (only PNG, JPEG and DICOM)` : "not a PNG, JPEG or DICOM image",
  );
}

function decodePng(bytes: Buffer): DecodedImage {
  // IHDR is always the first chunk: width and height are at bytes 16–23, readable without decoding.
  if (bytes.length >= 24 && ascii(bytes, 12, 16) === "IHDR") {
    checkPixels(bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  }
  let png: PNG;
  try {
    // 16-bit samples are rescaled to 8 bits and palette/gray/alpha variants expanded to RGBA by pngjs.
    png = PNG.sync.read(bytes);
  } catch (err) {
    const msg = (err as Error).message;
    // pngjs reports running out of input with an obscure stream message; say what it means.
    const reason = /read requests|unexpected end|premature/i.test(msg) ? "truncated" : msg;
    throw new ImageDecodeError(`invalid PNG (${reason})`);
  }
  return { width: png.width, height: png.height, rgba: png.data };
}

function decodeJpeg(bytes: Buffer): DecodedImage {
  try {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: 1024,
    });
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (err) {
    const msg = (err as Error).message;
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(msg)) throw new ImageDecodeError(`image too large (${msg})`);
    // jpeg-js fails with "marker was not found" or "unknown JPEG marker 0" when the data stops early.
    const reason = /marker was not found|unknown JPEG marker 0\b/.test(msg) ? `truncated or corrupt: ${msg}` : msg;
    throw new ImageDecodeError(`invalid JPEG (${reason})`);
  }
}

function checkPixels(width: number, height: number): void {
  if (width === 0 || height === 0) throw new ImageDecodeError(`invalid PNG (size ${width}×${height})`);
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageDecodeError(`image too large (${width}×${height}, limit ${MAX_IMAGE_PIXELS} pixels)`);
  }
}

function startsWith(bytes: Uint8Array, sig: number[]): boolean {
  return bytes.length >= sig.length && sig.every((v, i) => bytes[i] === v);
}

function ascii(b: Uint8Array, from: number, to: number): string {
  if (b.length < to) return "";
  return String.fromCharCode(...b.subarray(from, to));
}
