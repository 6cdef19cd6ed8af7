/**
 * A site's private data, as the agent sees it: what it may tell the coordinator before joining (its class
 * names and example count) and the images themselves, loaded at the federation's input shape once the
 * coordinator has said what that is. The images never leave this process.
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { relabel, subset, type ImageDataset } from "../../shared/data/imageDataset.js";
import { UserError } from "../../shared/errors.js";
import { permutation, Random } from "../../shared/random.js";
import { readDatasetFile } from "../data/datasetFile.js";
import { loadImageFolder } from "../data/imageFolder.js";

export interface LoadedSiteData {
  train: ImageDataset;
  /** Held out from training; the global model is evaluated on it each round. */
  validation: ImageDataset;
  skippedFiles: number;
}

export interface SiteData {
  readonly description: string;
  /** The site's own class names (a subset of the federation's). */
  classNames(): Promise<string[]>;
  /** Examples the site holds (before any file turns out unreadable). */
  exampleCount(): Promise<number>;
  load(inputShape: [number, number, number], federationClasses: readonly string[], log: (line: string) => void): Promise<LoadedSiteData>;
}

/** Share of a site's examples held out for validation. */
export const VALIDATION_SHARE = 0.1;

export function splitValidation(d: ImageDataset, seed: number): { train: ImageDataset; validation: ImageDataset } {
  const order = permutation(d.count, new Random(seed));
  const held = d.count >= 10 ? Math.max(1, Math.round(d.count * VALIDATION_SHARE)) : 0;
  return { validation: subset(d, order.subarray(0, held)), train: subset(d, order.subarray(held)) };
}

/** A binary dataset file, as written by `fedfusion partition --format bin` and by simulate. */
export function datasetFileSite(file: string, seed: number): SiteData {
  let cached: Promise<ImageDataset> | null = null;
  const read = () => (cached ??= readDatasetFile(file));
  return {
    description: file,
    classNames: async () => {
      const d = await read();
      const present = new Set(d.labels.subarray(0, d.count));
      return d.classNames.filter((_, i) => present.has(i));
    },
    exampleCount: async () => (await read()).count,
    async load(inputShape, federationClasses) {
      const d = await read();
      const [h, w, c] = inputShape;
      if (d.height !== h || d.width !== w || d.channels !== c) {
        throw new UserError(`${file} holds ${d.height}x${d.width}x${d.channels} images, the federation's model takes ${h}x${w}x${c}`);
      }
      return { ...splitValidation(relabel(d, federationClasses), seed), skippedFiles: 0 };
    },
  };
}

/** A folder of class sub-folders with PNG/JPEG files (Keras flow_from_directory layout). */
export function imageFolderSite(dir: string, seed: number): SiteData {
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
  return {
    description: dir,
    classNames: scan,
    async exampleCount() {
      let n = 0;
      for (const c of await scan()) n += await countFiles(path.join(dir, c));
      return n;
    },
    async load(inputShape, federationClasses, log) {
      const [height, width, channels] = inputShape;
      const { dataset, skipped } = await loadImageFolder(dir, {
        height,
        width,
        channels: channels as 1 | 3,
        classNames: federationClasses,
        warn: (m) => log(`warning: ${m}`),
      });
      return { ...splitValidation(dataset, seed), skippedFiles: skipped.length };
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
