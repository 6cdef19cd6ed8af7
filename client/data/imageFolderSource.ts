/**
 * A folder of labelled images (the loadImageFolder layout) as a streaming TrainingSource: only the file
 * list and the labels stay in memory, and images are read and decoded batch by batch, a few batches ahead
 * of training (see decodePool.ts for the threads that do it). Memory is bounded by the batch size and the
 * prefetch depth, not by the number of files, so a site can train on a shard larger than its memory.
 *
 * The examples, their order and their pixels are exactly those loadImageFolder gives, so training on a
 * streaming source is the same computation as training on the loaded dataset with the same seed.
 */
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { checkBatchSize, prefetched, type BatchOptions, type BatchView, type TrainingSource } from "../../shared/data/trainingSource.js";
import { createDecoder, type BatchDecoder } from "./decodePool.js";
import { checkShape, noReadableImages, scanImageFolder, type ImageFolderOptions, type SkippedFile } from "./imageFolder.js";
import type { ImageShape } from "./imageTransform.js";

export interface OpenImageFolderOptions extends ImageFolderOptions {
  /**
   * Decode every file once now (streaming, nothing kept), so that unreadable files are warned about and
   * left out before training, and `count` is exact. Default true. Without it a file that fails during
   * training is dropped from its batch with one warning and skipped from then on.
   */
  verify?: boolean;
  /** Threads decoding images besides the main one (default: cores − 1, 1 to 4; 0 = the main thread). */
  decodeThreads?: number;
}

/** Files per decode job when verifying. */
const VERIFY_CHUNK = 64;

/** What the examples of one folder (and the subsets of it) share. */
interface FolderContext {
  readonly dir: string;
  readonly shape: ImageShape;
  readonly classNames: readonly string[];
  readonly decoder: BatchDecoder;
  readonly warn: (message: string) => void;
  /** Files that failed since the source was opened, by path, with why. */
  readonly failed: Map<string, string>;
}

export class ImageFolderSource implements TrainingSource {
  readonly streaming = true;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classNames: readonly string[];

  /** @internal use openImageFolder */
  constructor(
    private readonly ctx: FolderContext,
    /** Each example's file. */
    readonly paths: readonly string[],
    readonly labels: Uint8Array,
  ) {
    this.count = paths.length;
    this.height = ctx.shape.height;
    this.width = ctx.shape.width;
    this.channels = ctx.shape.channels;
    this.classNames = ctx.classNames;
  }

  /** Threads decoding for this source (0: the main thread). */
  get decodeThreads(): number {
    return this.ctx.decoder.threads;
  }

  /**
   * Files that failed to decode after the source was opened (the verify pass reports its own), shared
   * with every subset of the same folder.
   */
  get lateSkipped(): SkippedFile[] {
    return [...this.ctx.failed].map(([file, reason]) => ({ file, reason }));
  }

  get lateSkippedCount(): number {
    return this.ctx.failed.size;
  }

  batches(order: ArrayLike<number>, batchSize: number, opts: BatchOptions = {}): AsyncIterable<BatchView> {
    checkBatchSize(batchSize);
    const n = Math.ceil(order.length / batchSize);
    return prefetched(n, opts.prefetch ?? 2, (b) => this.decodeBatch(order, b * batchSize, Math.min((b + 1) * batchSize, order.length)));
  }

  subset(indices: ArrayLike<number>): ImageFolderSource {
    const paths = new Array<string>(indices.length);
    const labels = new Uint8Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(j >= 0 && j < this.count)) throw new RangeError(`example ${j} is outside the source's ${this.count}`);
      paths[i] = this.paths[j];
      labels[i] = this.labels[j];
    }
    return new ImageFolderSource(this.ctx, paths, labels);
  }

  close(): Promise<void> {
    return this.ctx.decoder.close();
  }

  private async decodeBatch(order: ArrayLike<number>, start: number, end: number): Promise<BatchView> {
    const { ctx } = this;
    const examples: number[] = [];
    for (let i = start; i < end; i++) {
      const e = order[i];
      if (!(e >= 0 && e < this.count)) throw new RangeError(`example ${e} is outside the source's ${this.count}`);
      if (!ctx.failed.has(this.paths[e])) examples.push(e);
    }
    const decoded = await ctx.decoder.decode(
      examples.map((e) => this.paths[e]),
      ctx.shape,
    );
    const size = ctx.shape.height * ctx.shape.width * ctx.shape.channels;
    const labels = new Uint8Array(examples.length);
    let kept = 0;
    for (let i = 0; i < examples.length; i++) {
      const reason = decoded.reasons[i];
      const path = this.paths[examples[i]];
      if (reason !== undefined) {
        if (!ctx.failed.has(path)) {
          ctx.failed.set(path, reason);
          ctx.warn(`skipping ${path}: ${reason}`);
        }
        continue;
      }
      if (kept !== i) decoded.images.copyWithin(kept * size, i * size, (i + 1) * size);
      labels[kept++] = this.labels[examples[i]];
    }
    const data: ImageDataset = {
      images: decoded.images.subarray(0, kept * size),
      labels: labels.subarray(0, kept),
      count: kept,
      ...ctx.shape,
      classNames: ctx.classNames,
    };
    return { data, order: identity(kept), start: 0, end: kept };
  }
}

/**
 * Opens a folder of class sub-folders for streaming. Errors as loadImageFolder: UserErrors for a folder
 * that cannot be a dataset (including one with no readable image, when verifying).
 */
export async function openImageFolder(
  dir: string,
  opts: OpenImageFolderOptions,
): Promise<{ source: ImageFolderSource; skipped: SkippedFile[] }> {
  const shape = checkShape(opts);
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const { files, classNames } = await scanImageFolder(dir, opts.classNames);
  const decoder = createDecoder({ threads: opts.decodeThreads, concurrency: opts.concurrency });
  const ctx: FolderContext = { dir, shape, classNames: [...classNames], decoder, warn, failed: new Map() };
  const paths = files.map((f) => f.path);
  const labels = Uint8Array.from(files, (f) => f.label);
  const all = new ImageFolderSource(ctx, paths, labels);
  if (opts.verify === false) return { source: all, skipped: [] };

  const skipped: SkippedFile[] = [];
  const keep: number[] = [];
  try {
    const chunks = Math.ceil(paths.length / VERIFY_CHUNK);
    const results = prefetched(chunks, 2, (c) =>
      decoder.decode(paths.slice(c * VERIFY_CHUNK, (c + 1) * VERIFY_CHUNK), shape, { keep: false }),
    );
    let c = 0;
    // Warnings follow the sorted file order, as loadImageFolder's.
    for await (const r of results) {
      r.reasons.forEach((reason, k) => {
        const i = c * VERIFY_CHUNK + k;
        if (reason === undefined) keep.push(i);
        else {
          skipped.push({ file: paths[i], reason });
          warn(`skipping ${paths[i]}: ${reason}`);
        }
      });
      c++;
    }
  } catch (e) {
    await decoder.close();
    throw e;
  }
  if (keep.length === 0) {
    await decoder.close();
    throw noReadableImages(dir, paths.length, skipped);
  }
  return { source: keep.length === paths.length ? all : all.subset(keep), skipped };
}

let identityCache = new Uint32Array(0);

/** 0..n-1; shared, read-only. */
function identity(n: number): Uint32Array {
  if (identityCache.length < n) {
    identityCache = new Uint32Array(Math.max(n, 256));
    for (let i = 0; i < identityCache.length; i++) identityCache[i] = i;
  }
  return identityCache.subarray(0, n);
}
