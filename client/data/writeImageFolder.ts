/**
 * Writes an ImageDataset as a folder of PNG files in the layout loadImageFolder reads (`<class>/<index>.png`),
 * e.g. to hand a client a shard of a built-in dataset as ordinary files, or to inspect a partition by eye.
 * PNG is lossless and stored as 8-bit gray or RGB like the dataset, so loading the folder back at the same
 * size gives exactly the same pixels.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PNG } from "pngjs";
import { UserError } from "../../shared/errors.js";
import { imageSize, type ImageDataset } from "../../shared/data/imageDataset.js";

/**
 * Every class gets a folder, even one without examples, so that a dataset whose class names are sorted
 * reloads with the same class list. File names are the example indices zero-padded to one width, so name
 * order is index order and a reload keeps each class's examples in their original order.
 */
export async function writeImageFolder(dir: string, d: ImageDataset, opts: { concurrency?: number } = {}): Promise<void> {
  if (d.channels !== 1 && d.channels !== 3) {
    throw new UserError(`cannot write images with ${d.channels} channels as PNG: expected 1 (gray) or 3 (RGB)`);
  }
  for (const name of d.classNames) checkFolderName(name);
  if (new Set(d.classNames).size !== d.classNames.length) {
    throw new UserError(`duplicate class names in ${d.classNames.join(", ")}: each class needs its own folder`);
  }
  await requireEmptyOrAbsent(dir);
  await mkdir(dir, { recursive: true });
  for (const name of d.classNames) await mkdir(join(dir, name), { recursive: true });

  const size = imageSize(d);
  const digits = String(Math.max(0, d.count - 1)).length;
  // PNG colour type 0 is 8-bit gray, 2 is 8-bit RGB: the dataset's own layout, written without conversion.
  const colorType = d.channels === 1 ? 0 : 2;
  let next = 0;
  const worker = async () => {
    while (next < d.count) {
      const i = next++;
      const png = new PNG();
      png.width = d.width;
      png.height = d.height;
      png.data = Buffer.from(d.images.buffer, d.images.byteOffset + i * size, size);
      const bytes = PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
      const file = join(dir, d.classNames[d.labels[i]], `${String(i).padStart(digits, "0")}.png`);
      await writeFile(file, bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, d.count)) }, worker));
}

/** Class names become folder names: refuse ones that would escape the folder or that the loader ignores. */
function checkFolderName(name: string): void {
  if (name === "" || name === "." || name === ".." || /[/\\\0]/.test(name)) {
    throw new UserError(`class name '${name}' cannot be used as a folder name`);
  }
  if (name.startsWith(".")) {
    throw new UserError(`class name '${name}' starts with '.', and hidden folders are ignored when loading`);
  }
}

/** Writing into a folder with other files would mix them into the dataset when it is loaded. */
async function requireEmptyOrAbsent(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") throw new UserError(`cannot write images to ${dir}: it is a file, not a folder`);
    throw new UserError(`cannot write images to ${dir}: ${(err as Error).message}`);
  }
  if (entries.length > 0) throw new UserError(`cannot write images to ${dir}: the folder is not empty`);
}
