/**
 * Coordinator checkpoints: after every round, the global model and the rounds so far are written to a
 * directory (atomically), so a coordinator that stops — crash, maintenance, preemption — continues with
 * `--resume` from the last completed round instead of starting over. Clients simply re-join.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type * as tfl from "@tensorflow/tfjs-layers";
import { UserError } from "../shared/errors.js";
import { modelFingerprint } from "../shared/model/fingerprint.js";
import type { ModelSpec } from "../shared/model/modelSpec.js";
import { loadModel, saveModel } from "../shared/model/modelStore.js";
import { readWeights } from "../shared/model/weights.js";
import type { RoundRecord } from "./rounds/types.js";

const STATE_FILE = "state.json";

interface CheckpointState {
  format: 1;
  fingerprint: string;
  strategy: string;
  modelVersion: number;
  rounds: RoundRecord[];
}

export interface Checkpoint {
  weights: Float32Array[];
  modelVersion: number;
  rounds: RoundRecord[];
  strategy: string;
}

/** Writes the model first, then the state that points at it, so a torn write leaves the previous checkpoint. */
export async function writeCheckpoint(dir: string, model: tfl.LayersModel, spec: ModelSpec, state: Omit<CheckpointState, "format" | "fingerprint">): Promise<void> {
  const modelDir = path.join(dir, `model-v${state.modelVersion}`);
  await saveModel(model, modelDir, { spec, modelVersion: state.modelVersion });
  const full: CheckpointState = { format: 1, fingerprint: modelFingerprint(spec), ...state };
  const tmp = path.join(dir, `${STATE_FILE}.${process.pid}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(full, null, 2));
  await fs.rename(tmp, path.join(dir, STATE_FILE));
  // Older model versions are no longer referenced.
  for (const e of await fs.readdir(dir)) {
    if (e.startsWith("model-v") && e !== path.basename(modelDir)) await fs.rm(path.join(dir, e), { recursive: true, force: true });
  }
}

/** The checkpoint in dir, or null when there is none; a checkpoint of another model is a UserError. */
export async function readCheckpoint(dir: string, spec: ModelSpec): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, STATE_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UserError(`cannot read checkpoint ${dir}: ${(e as NodeJS.ErrnoException).code}`);
  }
  let state: CheckpointState;
  try {
    state = JSON.parse(text) as CheckpointState;
  } catch {
    throw new UserError(`checkpoint ${path.join(dir, STATE_FILE)} is not valid JSON`);
  }
  if (state.format !== 1 || !Array.isArray(state.rounds)) throw new UserError(`checkpoint ${dir} has an unknown format`);
  if (state.fingerprint !== modelFingerprint(spec)) {
    throw new UserError(`checkpoint ${dir} belongs to a different model (fingerprint ${state.fingerprint}, this federation ${modelFingerprint(spec)})`);
  }
  const { model } = await loadModel(path.join(dir, `model-v${state.modelVersion}`));
  const weights = readWeights(model);
  model.dispose();
  return { weights, modelVersion: state.modelVersion, rounds: state.rounds, strategy: state.strategy };
}
