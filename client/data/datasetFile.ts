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
import { open, readFile, rename, rm, type FileHandle } from "node:fs/promises";
import { UserError } from "../../shared/errors.js";
import { imageSize, type ImageDataset } from "../../shared/data/imageDataset.js";
import { checkBatchSize, prefetched, type BatchOptions, type BatchView, type TrainingSource } from "../../shared/data/trainingSource.js";

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

/**
 * A dataset file as a streaming TrainingSource: the header and labels are read now (count bytes), the
 * images batch by batch from their offsets in the file, so a file larger than memory can be trained on.
 * The same checks as readDatasetFile apply, and the examples are exactly those readDatasetFile gives.
 */
export async function openDatasetFile(path: string): Promise<DatasetFileSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new UserError(`cannot read dataset file ${path}: ${(err as Error).message}`);
  }
  const fail = (problem: string): never => {
    throw new UserError(`dataset file ${path} is unusable: ${problem}`);
  };
  try {
    const fileSize = (await fh.stat()).size;
    const readAt = async (position: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    };
    const prefix = await readAt(0, PREFIX_BYTES);
    if (prefix.length < PREFIX_BYTES) fail(`only ${prefix.length} bytes, too short for the file header`);
    if (prefix.toString("latin1", 0, 4) !== MAGIC) fail(`not a dataset file (no "${MAGIC}" signature)`);
    const version = prefix.readUInt32LE(4);
    if (version !== VERSION) fail(`format version ${version} is not supported (expected ${VERSION})`);
    const headerLength = prefix.readUInt32LE(8);
    if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} is implausible`);
    const headerBytes = await readAt(PREFIX_BYTES, headerLength);
    if (headerBytes.length < headerLength) fail("truncated inside the header");
    let parsed: unknown;
    try {
      parsed = JSON.parse(headerBytes.toString("utf8"));
    } catch {
      return fail("header is not valid JSON");
    }
    const header = validateHeader(parsed, fail);
    const labelsStart = PREFIX_BYTES + headerLength;
    const imagesStart = labelsStart + header.count;
    const expectedSize = imagesStart + header.count * header.height * header.width * header.channels;
    if (fileSize < expectedSize) fail(`truncated: ${fileSize} bytes, expected ${expectedSize}`);
    if (fileSize > expectedSize) fail(`${fileSize - expectedSize} unexpected bytes after the images`);
    const labels = new Uint8Array(await readAt(labelsStart, header.count));
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] >= header.classNames.length) fail(`label ${labels[i]} of example ${i} is outside the ${header.classNames.length} classes`);
    }
    return new DatasetFileSource(path, header, imagesStart, labels, null);
  } finally {
    await fh.close();
  }
}

export class DatasetFileSource implements TrainingSource {
  readonly streaming = true;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  /** @internal use openDatasetFile */
  constructor(
    readonly path: string,
    header: Header,
    private readonly imagesStart: number,
    readonly labels: Uint8Array,
    /** For each example, its index in the file (null: the identity). */
    private readonly fileIndex: Uint32Array | null,
    readonly classNames: readonly string[] = header.classNames,
  ) {
    this.count = labels.length;
    this.height = header.height;
    this.width = header.width;
    this.channels = header.channels;
  }

  private get header(): Header {
    return { count: this.count, height: this.height, width: this.width, channels: this.channels, classNames: [...this.classNames] };
  }

  /** Decoded (well, read) shard size in bytes, had it been loaded into memory. */
  get imageBytes(): number {
    return this.count * imageSize(this);
  }

  batches(order: ArrayLike<number>, batchSize: number, opts: BatchOptions = {}): AsyncIterable<BatchView> {
    checkBatchSize(batchSize);
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        let fh: FileHandle;
        try {
          fh = await open(self.path, "r");
        } catch (err) {
          throw new UserError(`cannot read dataset file ${self.path}: ${(err as Error).message}`);
        }
        try {
          const n = Math.ceil(order.length / batchSize);
          yield* prefetched(n, opts.prefetch ?? 2, (b) => self.readBatch(fh, order, b * batchSize, Math.min((b + 1) * batchSize, order.length)));
        } finally {
          await fh.close();
        }
      },
    };
  }

  /** The same examples labelled by the federation's class list (see relabel in imageDataset.ts). */
  relabel(classNames: readonly string[]): DatasetFileSource {
    if (this.classNames.join("\u0000") === classNames.join("\u0000")) return this;
    const map = this.classNames.map((c) => {
      const i = classNames.indexOf(c);
      if (i < 0) throw new Error(`class '${c}' is not in [${classNames.join(", ")}]`);
      return i;
    });
    const labels = this.labels.map((l) => map[l]);
    return new DatasetFileSource(this.path, this.header, this.imagesStart, labels, this.fileIndex, [...classNames]);
  }

  subset(indices: ArrayLike<number>): DatasetFileSource {
    const fileIndex = new Uint32Array(indices.length);
    const labels = new Uint8Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(j >= 0 && j < this.count)) throw new RangeError(`example ${j} is outside the source's ${this.count}`);
      fileIndex[i] = this.fileIndex ? this.fileIndex[j] : j;
      labels[i] = this.labels[j];
    }
    return new DatasetFileSource(this.path, this.header, this.imagesStart, labels, fileIndex, this.classNames);
  }

  async close(): Promise<void> {}

  private async readBatch(fh: FileHandle, order: ArrayLike<number>, start: number, end: number): Promise<BatchView> {
    const size = imageSize(this);
    const n = end - start;
    const images = new Uint8Array(n * size);
    const labels = new Uint8Array(n);
    const reads: Promise<unknown>[] = [];
    // Runs of consecutive examples (evaluation reads in file order) are read with one call each.
    for (let i = 0; i < n; ) {
      const first = this.at(order[start + i]);
      let run = 1;
      while (i + run < n && this.at(order[start + i + run]) === first + run) run++;
      for (let k = 0; k < run; k++) labels[i + k] = this.labels[order[start + i + k]];
      reads.push(readFully(fh, images, i * size, run * size, this.imagesStart + first * size, this.path));
      i += run;
    }
    await Promise.all(reads);
    const data: ImageDataset = { images, labels, count: n, height: this.height, width: this.width, channels: this.channels, classNames: this.classNames };
    const order2 = new Uint32Array(n);
    for (let i = 0; i < n; i++) order2[i] = i;
    return { data, order: order2, start: 0, end: n };
  }

  /** The file index of example e. */
  private at(e: number): number {
    if (!(e >= 0 && e < this.count)) throw new RangeError(`example ${e} is outside the source's ${this.count}`);
    return this.fileIndex ? this.fileIndex[e] : e;
  }
}

async function readFully(fh: FileHandle, into: Uint8Array, offset: number, length: number, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(into, offset + done, length - done, position + done);
    if (bytesRead === 0) throw new UserError(`dataset file ${path} was truncated while training on it`);
    done += bytesRead;
  }
}
