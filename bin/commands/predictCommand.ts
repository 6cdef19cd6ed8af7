import { readFile } from "node:fs/promises";
import { decodeImage } from "../../client/data/decodeImage.js";
import { convertChannels, resizeBilinear } from "../../client/data/imageTransform.js";
import { initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import { UserError } from "../../shared/errors.js";
import { predictProbabilities } from "../../shared/model/evaluate.js";
import { loadModel } from "../../shared/model/modelStore.js";
import { parseCommand } from "../cliOptions.js";
import { backendOption } from "../commonOptions.js";

const spec = {
  name: "predict",
  summary: "classify image files with a saved model",
  positionals: "IMAGE...",
  options: {
    model: { kind: "string", required: true, meta: "DIR", help: "saved model directory" },
    top: { kind: "int", min: 1, default: 3, help: "classes to show per image" },
    json: { kind: "boolean", help: "print one JSON object per image" },
    ...backendOption,
  },
} as const;

export async function predictCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  if (parsed.positionals.length === 0) throw new UserError("predict: give at least one image file");
  await initBackend(parseBackendChoice(o.backend));
  const { model, meta } = await loadModel(o.model);
  const [height, width, channels] = meta.spec.inputShape;
  const size = height * width * channels;
  const images = new Uint8Array(parsed.positionals.length * size);
  for (const [i, file] of parsed.positionals.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new UserError(`predict: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let img;
    try {
      img = decodeImage(bytes);
    } catch (e) {
      throw new UserError(`predict: ${file} is not a readable PNG, JPEG or DICOM image: ${(e as Error).message}`);
    }
    const converted = convertChannels(img.rgba, img.width * img.height, 4, channels as 1 | 3);
    images.set(resizeBilinear(converted, img.height, img.width, channels, height, width), i * size);
  }
  const data: ImageDataset = { images, labels: new Uint8Array(parsed.positionals.length), count: parsed.positionals.length, height, width, channels, classNames: meta.spec.classNames };
  const probs = predictProbabilities(model, data);
  probs.forEach((p, i) => {
    const ranked = [...p].map((v, c) => ({ class: meta.spec.classNames[c], probability: v })).sort((a, b) => b.probability - a.probability).slice(0, o.top);
    if (o.json) process.stdout.write(JSON.stringify({ file: parsed.positionals[i], predictions: ranked }) + "\n");
    else process.stdout.write(`${parsed.positionals[i]}: ${ranked.map((r) => `${r.class} ${(100 * r.probability).toFixed(1)}%`).join(", ")}\n`);
  });
}
