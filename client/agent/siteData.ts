/**
 * A site's private data, as the agent sees it: what it may tell the coordinator before joining (its class
 * names and example count) and the images themselves, loaded at the federation's input shape once the
 * coordinator has said what that is. The images never leave this process.
 *
 * A shard whose decoded images would exceed a memory budget is not loaded but streamed: its images are
 * read and decoded batch by batch (see TrainingSource), so a site can train on more data than it has
 * memory. Either way the train/validation split and the training order come from the same seeds, so a
 * streamed shard trains exactly as the loaded one would.
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { relabel, subset, type ImageDataset } from "../../shared/data/imageDataset.js";
import { inMemorySource, type TrainingSource } from "../../shared/data/trainingSource.js";
import { UserError } from "../../shared/errors.js";
import { permutation, Random } from "../../shared/random.js";
import { openDatasetFile, readDatasetFile, type DatasetFileSource } from "../data/datasetFile.js";
import { loadImageFolder, scanImageFolder } from "../data/imageFolder.js";
import { openImageFolder } from "../data/imageFolderSource.js";

export interface LoadedSiteData {
  train: ImageDataset;
  /** Held out from training; the global model is evaluated on it each round. */
  validation: ImageDataset;
  skippedFiles: number;
}

/** The site's data opened for training: in memory or streamed, as the memory budget decided. */
export interface OpenedSiteData {
  train: TrainingSource;
  /** Held out from training; the global model is evaluated on it each round. */
  validation: TrainingSource;
  /** true when the images are read and decoded per batch rather than held in memory. */
  streaming: boolean;
  /**
   * Files skipped as unreadable. When streaming without verification this grows as training meets them;
   * the examples counts of train and validation still include those files.
   */
  readonly skippedFiles: number;
  /** Stops what streaming keeps running (decoding threads). */
  close(): Promise<void>;
}

export interface SiteData {
  readonly description: string;
  /** The site's own class names (a subset of the federation's). */
  classNames(): Promise<string[]>;
  /** Examples the site holds (before any file turns out unreadable). */
  exampleCount(): Promise<number>;
  /** The shard in memory when it fits the memory budget, else streamed (see SiteDataOptions). */
  open(inputShape: [number, number, number], federationClasses: readonly string[], log: (line: string) => void): Promise<OpenedSiteData>;
}

export type StreamMode = "auto" | "always" | "never";

export interface SiteDataOptions {
  /** auto (default): stream when the decoded shard would exceed the budget; always; never. */
  stream?: StreamMode;
  /** The budget in MB (MiB) for a shard held in memory. Default: $FEDFUSION_MAX_SHARD_MB, else 1024. */
  maxShardMb?: number;
  /** Image folders, when streaming: threads decoding images (default cores − 1, 1 to 4; 0 = main thread). */
  decodeThreads?: number;
  /**
   * Image folders, when streaming: decode every file once before training, so that unreadable files are
   * left out up front (as when loading) rather than met during training. Default false: for a shard too
   * large for memory that pass costs as much as an epoch, and an unreadable file met during training is
   * dropped from its batch with one warning and counted in skippedFiles from then on.
   */
  verify?: boolean;
}

export const DEFAULT_MAX_SHARD_MB = 1024;

/** The memory budget: the option, else $FEDFUSION_MAX_SHARD_MB, else 1024 MB. */
export function maxShardBytes(opts: SiteDataOptions = {}, env: NodeJS.ProcessEnv = process.env): number {
  let mb = opts.maxShardMb;
  let what = "the shard memory budget";
  // `||`: an empty variable means unset.
  if (mb === undefined && env.FEDFUSION_MAX_SHARD_MB) {
    mb = /^\s*\d+(\.\d+)?\s*$/.test(env.FEDFUSION_MAX_SHARD_MB) ? Number(env.FEDFUSION_MAX_SHARD_MB) : NaN;
    what = `FEDFUSION_MAX_SHARD_MB='${env.FEDFUSION_MAX_SHARD_MB}'`;
  }
  mb ??= DEFAULT_MAX_SHARD_MB;
  if (!(Number.isFinite(mb) && mb >= 0)) throw new UserError(`${what} must be a number of megabytes ≥ 0, got ${mb}`);
  return mb * 1024 * 1024;
}

/** Whether a shard of `bytes` decoded bytes is streamed. */
export function shouldStream(bytes: number, opts: SiteDataOptions = {}, env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = opts.stream ?? "auto";
  if (mode === "always") return true;
  if (mode === "never") return false;
  return bytes > maxShardBytes(opts, env);
}

/** Share of a site's examples held out for validation. */
export const VALIDATION_SHARE = 0.1;

/** How many of `count` examples are held out, and which: the first of a permutation drawn from `seed`. */
function validationOrder(count: number, seed: number): { order: Uint32Array; held: number } {
  const order = permutation(count, new Random(seed));
  const held = count >= 10 ? Math.max(1, Math.round(count * VALIDATION_SHARE)) : 0;
  return { order, held };
}

export function splitValidation(d: ImageDataset, seed: number): { train: ImageDataset; validation: ImageDataset } {
  const { order, held } = validationOrder(d.count, seed);
  return { validation: subset(d, order.subarray(0, held)), train: subset(d, order.subarray(held)) };
}

/** splitValidation for any source: the same examples held out as for the loaded dataset. */
export function splitValidationSource(d: TrainingSource, seed: number): { train: TrainingSource; validation: TrainingSource } {
  const { order, held } = validationOrder(d.count, seed);
  return { validation: d.subset(order.subarray(0, held)), train: d.subset(order.subarray(held)) };
}

function inMemory(loaded: LoadedSiteData): OpenedSiteData {
  return {
    train: inMemorySource(loaded.train),
    validation: inMemorySource(loaded.validation),
    skippedFiles: loaded.skippedFiles,
    streaming: false,
    close: async () => undefined,
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
}

/** A binary dataset file, as written by `fedfusion partition --format bin` and by simulate. */
export function datasetFileSite(file: string, seed: number, opts: SiteDataOptions = {}): SiteData {
  // Header and labels only (count bytes): enough to describe the site without reading the images.
  let header: Promise<DatasetFileSource> | null = null;
  const describe = () => (header ??= openDatasetFile(file));
  const checkShape = (d: { height: number; width: number; channels: number }, [h, w, c]: [number, number, number]) => {
    if (d.height !== h || d.width !== w || d.channels !== c) {
      throw new UserError(`${file} holds ${d.height}x${d.width}x${d.channels} images, the federation's model takes ${h}x${w}x${c}`);
    }
  };
  const load = async (inputShape: [number, number, number], federationClasses: readonly string[]): Promise<LoadedSiteData> => {
    const d = await readDatasetFile(file);
    checkShape(d, inputShape);
    return { ...splitValidation(relabel(d, federationClasses), seed), skippedFiles: 0 };
  };
  return {
    description: file,
    classNames: async () => {
      const d = await describe();
      const present = new Set(d.labels);
      return d.classNames.filter((_, i) => present.has(i));
    },
    exampleCount: async () => (await describe()).count,
    async open(inputShape, federationClasses, log) {
      const d = await describe();
      checkShape(d, inputShape);
      if (!shouldStream(d.imageBytes, opts)) return inMemory(await load(inputShape, federationClasses));
      log(`streaming ${file}: ${d.count} images (${megabytes(d.imageBytes)}) are read per batch, not held in memory`);
      return { ...splitValidationSource(d.relabel(federationClasses), seed), skippedFiles: 0, streaming: true, close: async () => undefined };
    },
  };
}

/** A folder of class sub-folders with PNG/JPEG/DICOM files (Keras flow_from_directory layout). */
export function imageFolderSite(dir: string, seed: number, opts: SiteDataOptions = {}): SiteData {
  const scan = async () => {
    let entries;
    try {
      if (!(await stat(dir)).isDirectory()) throw new UserError(`data path ${dir} is not a folder`);
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`cannot read data folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => e.name).sort();
    if (classes.length === 0) throw new UserError(`data folder ${dir} has no class sub-folders`);
    return classes;
  };
  const load = async (inputShape: [number, number, number], federationClasses: readonly string[], log: (line: string) => void): Promise<LoadedSiteData> => {
    const [height, width, channels] = inputShape;
    const { dataset, skipped } = await loadImageFolder(dir, {
      height,
      width,
      channels: channels as 1 | 3,
      classNames: federationClasses,
      warn: (m) => log(`warning: ${m}`),
    });
    return { ...splitValidation(dataset, seed), skippedFiles: skipped.length };
  };
  return {
    description: dir,
    classNames: scan,
    async exampleCount() {
      let n = 0;
      for (const c of await scan()) n += await countFiles(path.join(dir, c));
      return n;
    },
    async open(inputShape, federationClasses, log) {
      const [height, width, channels] = inputShape;
      const { files } = await scanImageFolder(dir, federationClasses);
      const bytes = files.length * height * width * channels;
      if (!shouldStream(bytes, opts)) return inMemory(await load(inputShape, federationClasses, log));
      const { source, skipped } = await openImageFolder(dir, {
        height,
        width,
        channels: channels as 1 | 3,
        classNames: federationClasses,
        warn: (m) => log(`warning: ${m}`),
        decodeThreads: opts.decodeThreads,
        verify: opts.verify ?? false,
      });
      log(
        `streaming ${dir}: ${source.count} images (${megabytes(bytes)} decoded at ${height}x${width}x${channels}) are decoded per batch ` +
          `(${source.decodeThreads > 0 ? `${source.decodeThreads} decoding thread${source.decodeThreads > 1 ? "s" : ""}` : "on the main thread"}), not held in memory`,
      );
      return {
        ...splitValidationSource(source, seed),
        streaming: true,
        get skippedFiles() {
          return skipped.length + source.lateSkippedCount;
        },
        close: () => source.close(),
      };
    },
  };
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".")) continue;
    if (e.isDirectory()) n += await countFiles(path.join(dir, e.name));
    else if (e.isFile()) n++;
  }
  return n;
}
