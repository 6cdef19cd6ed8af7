/**
 * Turns the CLI's `--dataset` value into train (and test) data: a built-in name (`fashion-mnist`, `mnist`)
 * or a folder of images. A folder with `train/` (and optionally `test/`) sub-folders is a pre-split dataset,
 * each part in the class-sub-folder layout; any other folder is all training data in that layout, with no
 * test set. Built-in names win over a folder of the same name; write `./mnist` to mean the folder.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../../shared/errors.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { isBuiltinDataset, loadBuiltinDataset } from "./builtinDatasets.js";
import { loadImageFolder, type SkippedFile } from "./imageFolder.js";
import { reshapeDataset, type ImageShape } from "./imageTransform.js";

export interface ResolveDatasetOptions {
  /**
   * The model's input size and channels. Folder images are resized to it; built-in data (28×28×1) is
   * converted to it when it differs. Default for folders: 28×28×1, the built-ins' shape, so a folder can
   * replace a built-in dataset without further flags.
   */
  height?: number;
  width?: number;
  channels?: 1 | 3;
  /** The federation's class list; the data is labelled by its indices (see loadImageFolder). */
  classNames?: readonly string[];
  /** Receives one line per skipped image file. Default: console.warn. */
  warn?: (message: string) => void;
  /** Cache for the built-in datasets (see loadBuiltinDataset). */
  cacheDir?: string;
}

export interface ResolvedDataset {
  /** What was loaded, for logs: the built-in name or the folder path. */
  source: string;
  train: ImageDataset;
  /** Absent for a folder without a `test/` sub-folder. */
  test?: ImageDataset;
  /** Image files that could not be read, each already reported through `warn`. */
  skipped: SkippedFile[];
}

const DEFAULT_SHAPE: ImageShape = { height: 28, width: 28, channels: 1 };

export async function resolveDataset(spec: string, opts: ResolveDatasetOptions = {}): Promise<ResolvedDataset> {
  if (isBuiltinDataset(spec)) {
    const { train, test } = await loadBuiltinDataset(spec, { cacheDir: opts.cacheDir });
    const fit = (d: ImageDataset) => mapClasses(reshapeDataset(d, requestedShape(opts, d)), spec, opts.classNames);
    return { source: spec, train: fit(train), test: fit(test), skipped: [] };
  }
  if (!(await isFolder(spec))) {
    throw new UserError(`unknown dataset '${spec}': expected fashion-mnist, mnist or a folder of class sub-folders`);
  }
  const shape = requestedShape(opts, DEFAULT_SHAPE);
  const folderOpts = { ...shape, warn: opts.warn };
  const trainDir = join(spec, "train");
  const testDir = join(spec, "test");
  if (!(await isFolder(trainDir))) {
    if (await isFolder(testDir)) {
      throw new UserError(`dataset folder ${spec} has a test/ sub-folder but no train/ sub-folder next to it`);
    }
    const { dataset, skipped } = await loadImageFolder(spec, { ...folderOpts, classNames: opts.classNames });
    return { source: spec, train: dataset, skipped };
  }
  const train = await loadImageFolder(trainDir, { ...folderOpts, classNames: opts.classNames });
  if (!(await isFolder(testDir))) return { source: spec, train: train.dataset, skipped: train.skipped };
  // The test set is labelled with the training set's classes, so a label means the same in both.
  const test = await loadImageFolder(testDir, { ...folderOpts, classNames: train.dataset.classNames });
  return { source: spec, train: train.dataset, test: test.dataset, skipped: [...train.skipped, ...test.skipped] };
}

function requestedShape(opts: ResolveDatasetOptions, fallback: Pick<ImageDataset, "height" | "width" | "channels">): ImageShape {
  const channels = opts.channels ?? fallback.channels;
  if (channels !== 1 && channels !== 3) throw new Error(`unsupported channel count ${channels}`);
  return { height: opts.height ?? fallback.height, width: opts.width ?? fallback.width, channels };
}

/**
 * Relabels a built-in dataset by the federation's class list: every built-in class must be in it (a
 * federation may have extra classes this data lacks, as with folders).
 */
function mapClasses(d: ImageDataset, name: string, classNames: readonly string[] | undefined): ImageDataset {
  if (!classNames || classNames.join("\n") === d.classNames.join("\n")) return d;
  if (classNames.length > 256) throw new UserError(`${classNames.length} classes is more than the 256 supported`);
  const index = new Map(classNames.map((c, i) => [c, i]));
  const remap = d.classNames.map((c) => {
    const i = index.get(c);
    if (i === undefined) {
      throw new UserError(`dataset ${name} has class '${c}', which is not one of the federation's classes: ${classNames.join(", ")}`);
    }
    return i;
  });
  return { ...d, labels: d.labels.map((l) => remap[l]), classNames: [...classNames] };
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
