/**
 * Loads a folder of labelled images in the Keras `flow_from_directory` layout: one sub-folder per class,
 * each holding that class's PNG/JPEG/DICOM files (nested folders inside a class folder are walked too, as Keras
 * does). Images are converted to the requested channels and resized to the requested size, so a client can
 * bring photos of any size to a federation whose model has a fixed input shape.
 *
 * Unreadable files are a fact of life in real image collections, so a corrupt, truncated or non-image file
 * is skipped with one warning and listed in the result rather than failing the whole load; a folder that
 * cannot be a dataset at all (missing, no class folders, no images, a class the federation does not have)
 * is a UserError.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../../shared/errors.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { decodeImage, ImageDecodeError } from "./decodeImage.js";
import { convertChannels, resizeBilinear, type ImageShape } from "./imageTransform.js";

export interface ImageFolderOptions {
  height: number;
  width: number;
  channels: 1 | 3;
  /**
   * The federation's class list. Sub-folders are matched to it by name and labelled by its indices; a
   * client may lack some classes, but a folder naming a class outside the list is an error. Without it the
   * classes are the sub-folder names, sorted.
   */
  classNames?: readonly string[];
  /** Receives one line per skipped file. Default: console.warn. */
  warn?: (message: string) => void;
  /** Files read and decoded at once (default 8): enough to overlap disk reads, bounded in memory. */
  concurrency?: number;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

/** Labels are bytes. */
const MAX_CLASSES = 256;

export async function loadImageFolder(
  dir: string,
  opts: ImageFolderOptions,
): Promise<{ dataset: ImageDataset; skipped: SkippedFile[] }> {
  const shape = checkShape(opts);
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const { files, classNames } = await scanImageFolder(dir, opts.classNames);

  const size = shape.height * shape.width * shape.channels;
  const images = new Uint8Array(files.length * size);
  const reasons: (string | undefined)[] = new Array(files.length);
  await forEachBounded(files.length, opts.concurrency ?? 8, async (i) => {
    reasons[i] = await decodeFileInto(files[i].path, shape, images, i * size);
  });

  // Warnings and the kept examples follow the sorted file order, whatever order the decodes finished in.
  const skipped: SkippedFile[] = [];
  const labels: number[] = [];
  let kept = 0;
  for (let i = 0; i < files.length; i++) {
    const reason = reasons[i];
    if (reason !== undefined) {
      skipped.push({ file: files[i].path, reason });
      warn(`skipping ${files[i].path}: ${reason}`);
      continue;
    }
    if (kept !== i) images.copyWithin(kept * size, i * size, (i + 1) * size);
    labels.push(files[i].label);
    kept++;
  }
  if (kept === 0) throw noReadableImages(dir, files.length, skipped);
  return {
    dataset: {
      // slice, not subarray: a copy sized to what was kept, so the space of skipped files is released.
      images: kept === files.length ? images : images.slice(0, kept * size),
      labels: Uint8Array.from(labels),
      count: kept,
      ...shape,
      classNames: [...classNames],
    },
    skipped,
  };
}

export interface ImageFile {
  path: string;
  /** Index into the folder's class list. */
  label: number;
}

/**
 * The folder's image files (every non-hidden file under each class folder, in name order) and their
 * labels, without reading any of them: what a streaming source keeps in memory. UserErrors as
 * loadImageFolder for a folder that cannot be a dataset.
 */
export async function scanImageFolder(
  dir: string,
  federationClasses?: readonly string[],
): Promise<{ files: ImageFile[]; classNames: readonly string[] }> {
  await requireFolder(dir);
  const classDirs = await subfolders(dir);
  if (classDirs.length === 0) {
    throw new UserError(`image folder ${dir} has no class sub-folders: put each class's images in ${join(dir, "<class name>")}/`);
  }
  const { classNames, labelOf } = classMapping(dir, classDirs, federationClasses);
  const files: ImageFile[] = [];
  for (const name of classDirs) {
    for (const path of await listFiles(join(dir, name))) files.push({ path, label: labelOf(name) });
  }
  if (files.length === 0) {
    throw new UserError(`image folder ${dir} has no image files in its class sub-folders (${classDirs.join(", ")})`);
  }
  return { files, classNames };
}

export function checkShape(s: { height: number; width: number; channels: number }): ImageShape {
  const { height, width, channels } = s;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 1 && width >= 1) || (channels !== 1 && channels !== 3)) {
    throw new Error(`invalid image shape ${height}x${width}x${channels}`);
  }
  return { height, width, channels };
}

export function noReadableImages(dir: string, total: number, skipped: readonly SkippedFile[]): UserError {
  const first = skipped[0];
  return new UserError(
    `image folder ${dir} has no readable images: all ${total} files were skipped` + (first ? ` (e.g. ${first.file}: ${first.reason})` : ""),
  );
}

/**
 * Reads and decodes one image file at `shape` into out[offset…]. Returns undefined on success, or why the
 * file must be skipped: only read and decode failures are the file's fault; anything else is a bug and
 * propagates.
 */
export async function decodeFileInto(path: string, shape: ImageShape, out: Uint8Array, offset: number): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if (isFsError(err)) return `cannot read (${(err as Error).message})`;
    throw err;
  }
  try {
    out.set(decodeToShape(bytes, shape), offset);
  } catch (err) {
    if (err instanceof ImageDecodeError) return err.message;
    throw err;
  }
  return undefined;
}

/** An encoded image (PNG, JPEG, DICOM) converted to `shape`'s channels and size. */
export function decodeToShape(bytes: Buffer, shape: ImageShape): Uint8Array {
  const decoded = decodeImage(bytes);
  const pixels = convertChannels(decoded.rgba, decoded.width * decoded.height, 4, shape.channels);
  return resizeBilinear(pixels, decoded.height, decoded.width, shape.channels, shape.height, shape.width);
}

function classMapping(
  dir: string,
  classDirs: string[],
  federation: readonly string[] | undefined,
): { classNames: readonly string[]; labelOf: (folder: string) => number } {
  const classNames = federation ?? classDirs;
  if (classNames.length > MAX_CLASSES) {
    throw new UserError(`${classNames.length} classes is more than the ${MAX_CLASSES} supported`);
  }
  const index = new Map(classNames.map((c, i) => [c, i]));
  for (const name of classDirs) {
    if (!index.has(name)) {
      throw new UserError(
        `class folder ${join(dir, name)} is not one of the federation's classes: valid classes are ${classNames.join(", ")}`,
      );
    }
  }
  return { classNames, labelOf: (folder) => index.get(folder)! };
}

async function requireFolder(dir: string): Promise<void> {
  let s;
  try {
    s = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === "ENOENT" ? `image folder ${dir} does not exist` : `cannot read image folder ${dir}: ${(err as Error).message}`);
  }
  if (!s.isDirectory()) throw new UserError(`${dir} is not a folder: expected a folder of class sub-folders`);
}

/**
 * Entry names sorted by UTF-16 code units, not localeCompare: the order (and so class indices and example
 * order) must not depend on the machine's locale.
 */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Hidden entries (".git", ".DS_Store", "._photo.jpg" resource forks) are tooling and OS metadata, never
 * data, so they are ignored silently rather than warned about as unreadable images.
 */
function hidden(name: string): boolean {
  return name.startsWith(".");
}

/** Non-hidden sub-folders of `dir` (following symbolic links), sorted by name. */
async function subfolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (hidden(e.name)) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isKind(join(dir, e.name), "dir")))) out.push(e.name);
  }
  return out.sort(byName);
}

/** Every non-hidden file under `dir`, recursively, each folder's entries in name order. */
async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => byName(a.name, b.name));
  for (const e of entries) {
    if (hidden(e.name)) continue;
    const path = join(dir, e.name);
    const kind = e.isSymbolicLink() ? await kindOf(path) : e.isDirectory() ? "dir" : e.isFile() ? "file" : undefined;
    if (kind === "dir") out.push(...(await listFiles(path)));
    else if (kind === "file") out.push(path);
  }
  return out;
}

async function kindOf(path: string): Promise<"dir" | "file" | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? "dir" : s.isFile() ? "file" : undefined;
  } catch {
    return undefined; // A dangling link: nothing to read.
  }
}

async function isKind(path: string, kind: "dir" | "file"): Promise<boolean> {
  return (await kindOf(path)) === kind;
}

function isFsError(err: unknown): boolean {
  return typeof (err as NodeJS.ErrnoException | undefined)?.code === "string";
}

/** Runs task(0 … n-1) with at most `limit` running at once. */
export async function forEachBounded(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
}
