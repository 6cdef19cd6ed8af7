/**
 * Saving and loading models as a directory in TensorFlow.js's layers format (model.json + weights.bin),
 * so the result also loads with `tf.loadLayersModel("file://DIR/model.json")` under tfjs-node. Our own
 * metadata (the model spec) sits beside it in fedfusion.json.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { writeFileAtomically } from "../atomicFile.js";
import { UserError } from "../errors.js";
import "./fusionLayers.js"; // registers the custom layers before any model.json is deserialised
import { modelFingerprint } from "./fingerprint.js";
import type { ModelSpec } from "./modelSpec.js";

const MODEL_JSON = "model.json";
const WEIGHTS_BIN = "weights.bin";
const META_JSON = "fedfusion.json";

export interface SavedModelMeta {
  spec: ModelSpec;
  fingerprint: string;
  modelVersion?: number;
}

/** Writes the model into dir (created if needed); files are written beside and renamed, never half-written. */
export async function saveModel(model: tfl.LayersModel, dir: string, meta: Omit<SavedModelMeta, "fingerprint">): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const handler: tf.io.IOHandler = {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: "layers-model",
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFileAtomically(path.join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      await writeFileAtomically(path.join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
  await model.save(handler);
  const full: SavedModelMeta = { ...meta, fingerprint: modelFingerprint(meta.spec) };
  await writeFileAtomically(path.join(dir, META_JSON), JSON.stringify(full, null, 2));
}

export async function loadModel(dir: string): Promise<{ model: tfl.LayersModel; meta: SavedModelMeta }> {
  const modelPath = path.join(dir, MODEL_JSON);
  const metaPath = path.join(dir, META_JSON);
  // One after the other: with both missing, the error names model.json every time (Promise.all reported
  // whichever read failed first, so a test saw either file named).
  const modelText = await readText(modelPath);
  const metaText = await readText(metaPath);
  let modelJson: { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  let meta: SavedModelMeta;
  try {
    modelJson = JSON.parse(modelText);
    meta = JSON.parse(metaText);
  } catch (e) {
    throw new UserError(`model directory ${dir} holds invalid JSON: ${(e as Error).message}`);
  }
  if (!modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest) || !meta.spec) {
    throw new UserError(`model directory ${dir} is not a fedfusion model (model.json or fedfusion.json incomplete)`);
  }
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights);
  const buffers = await Promise.all(
    modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFile(path.join(dir, p))),
  );
  const weightData = tf.io.CompositeArrayBuffer.join(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
  const expected = weightSpecs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  if (weightData.byteLength !== expected) {
    throw new UserError(`model directory ${dir}: weights hold ${weightData.byteLength} bytes, the manifest needs ${expected}`);
  }
  const handler: tf.io.IOHandler = {
    load: async () => ({ modelTopology: modelJson.modelTopology, weightSpecs, weightData, format: "layers-model" }),
  };
  const model = await tfl.loadLayersModel(handler);
  return { model, meta };
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === "ENOENT" ? `no model at ${path.dirname(file)}: ${path.basename(file)} is missing` : `cannot read ${file}: ${code}`);
  }
}
