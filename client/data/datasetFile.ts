/**
 * A compact binary file holding one ImageDataset, so that a dataset decoded once (from JSON, PNGs or
 * JPEGs) loads again in a single read at 1 byte per pixel.
 *
 * Layout (all integers little-endian):
 *   4 bytes  magic "FFDS"
 *   u32      format version (1)
 *   u32      header length in bytes
 *   header   UTF-8 JSON {count, height, width, channels, classNames}
 *   count bytes of labels
 *   count × height × width × channels bytes of images (NHWC, as in ImageDataset)
 * The file's size is fully determined by the header, so truncation is always detected.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import { UserError } from "../../shared/errors.js";
import { imageSize, type ImageDataset } from "../../shared/data/imageDataset.js";

const MAGIC = "FFDS";
const VERSION = 1;
/** magic + version + header length. */
const PREFIX_BYTES = 12;
/** A header is a few hundred bytes; anything near this is a corrupt length field, not a real header. */
const MAX_HEADER_BYTES = 1 << 20;

interface Header {
  count: number;
  height: number;
  width: number;
  channels: number;
  classNames: string[];
}

/**
 * Writes `d` to `path` atomically: the bytes go to a temporary file beside it that is then renamed over
 * `path`, so a concurrent reader sees either the old file or the complete new one, never a partial one.
 */
export async function writeDatasetFile(path: string, d: ImageDataset): Promise<void> {
  const expected = d.count * imageSize(d);
  if (d.labels.length !== d.count || d.images.length !== expected) {
    throw new Error(
      `inconsistent dataset: count ${d.count} but ${d.labels.length} labels and ${d.images.length} image bytes (expected ${expected})`,
    );
  }
  const header: Header = {
    count: d.count,
    height: d.height,
    width: d.width,
    channels: d.channels,
    classNames: [...d.classNames],
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC, 0, "latin1");
  prefix.writeUInt32LE(VERSION, 4);
  prefix.writeUInt32LE(headerBytes.length, 8);

  // Unique per process and call, so concurrent writers of the same path never share a temporary file.
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx");
    try {
      // Written piece by piece rather than concatenated: the images can be tens of megabytes.
      for (const part of [prefix, headerBytes, d.labels, d.images]) {
        let off = 0;
        while (off < part.length) {
          const { bytesWritten } = await fh.write(part, off, part.length - off);
          off += bytesWritten;
        }
      }
      // Flushed before the rename, so a crash cannot leave a complete-looking name over missing data.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Reads a file written by writeDatasetFile; anything malformed is a UserError naming the file. */
export async function readDatasetFile(path: string): Promise<ImageDataset> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new UserError(`cannot read dataset file ${path}: ${(err as Error).message}`);
  }
  const fail = (problem: string): never => {
    throw new UserError(`dataset file ${path} is unusable: ${problem}`);
  };

  if (buf.length < PREFIX_BYTES) fail(`only ${buf.length} bytes, too short for the file header`);
  if (buf.toString("latin1", 0, 4) !== MAGIC) fail(`not a dataset file (no "${MAGIC}" signature)`);
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) fail(`format version ${version} is not supported (expected ${VERSION})`);
  const headerLength = buf.readUInt32LE(8);
  if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} is implausible`);
  if (buf.length < PREFIX_BYTES + headerLength) fail("truncated inside the header");

  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString("utf8", PREFIX_BYTES, PREFIX_BYTES + headerLength));
  } catch {
    return fail("header is not valid JSON");
  }
  const header = validateHeader(parsed, fail);

  const labelsStart = PREFIX_BYTES + headerLength;
  const imagesStart = labelsStart + header.count;
  const imageBytes = header.count * header.height * header.width * header.channels;
  const expectedSize = imagesStart + imageBytes;
  if (buf.length < expectedSize) fail(`truncated: ${buf.length} bytes, expected ${expectedSize}`);
  if (buf.length > expectedSize) fail(`${buf.length - expectedSize} unexpected bytes after the images`);

  // Views into the one buffer just read: no copy of the (possibly large) image block.
  const labels = new Uint8Array(buf.buffer, buf.byteOffset + labelsStart, header.count);
  const images = new Uint8Array(buf.buffer, buf.byteOffset + imagesStart, imageBytes);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= header.classNames.length) {
      fail(`label ${labels[i]} of example ${i} is outside the ${header.classNames.length} classes`);
    }
  }
  return { ...header, labels, images };
}

function validateHeader(h: unknown, fail: (problem: string) => never): Header {
  if (typeof h !== "object" || h === null) return fail("header is not a JSON object");
  const r = h as Record<string, unknown>;
  const dims = ["count", "height", "width", "channels"] as const;
  for (const key of dims) {
    const v = r[key];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(`header field '${key}' is not a non-negative integer`);
  }
  const classNames = r.classNames;
  if (!Array.isArray(classNames) || !classNames.every((c) => typeof c === "string")) {
    fail("header field 'classNames' is not a list of strings");
  }
  const header = r as unknown as Header;
  if (header.height < 1 || header.width < 1 || header.channels < 1) fail("image dimensions must be at least 1");
  // Labels are bytes, so a dataset can name at most 256 classes.
  if (header.classNames.length > 256) fail(`${header.classNames.length} classes, more than the 256 a byte label can index`);
  return {
    count: header.count,
    height: header.height,
    width: header.width,
    channels: header.channels,
    classNames: [...header.classNames],
  };
}
