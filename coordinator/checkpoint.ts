/**
 * Coordinator checkpoints: after every round, the global model and the rounds so far are written to a
 * directory (atomically), so a coordinator that stops — crash, maintenance, preemption — continues with
 * `--resume` from the last completed round instead of starting over. Clients simply re-join.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type * as tfl from "@tensorflow/tfjs-layers";
import { writeFileAtomically } from "../shared/atomicFile.js";
import { UserError } from "../shared/errors.js";
import { modelFingerprint } from "../shared/model/fingerprint.js";
import type { ModelSpec } from "../shared/model/modelSpec.js";
import { loadModel, saveModel } from "../shared/model/modelStore.js";
import { readWeights } from "../shared/model/weights.js";
import type { RoundRecord } from "./rounds/types.js";
import type { StrategyState } from "./strategies/strategy.js";

const STATE_FILE = "state.json";

/** Where a strategy's arrays are in its .bin file: float32 values, array by array, layer by layer. */
interface SavedStrategyState {
  file: string;
  scalars: Record<string, number>;
  /** Array name → the length of each of its layers. */
  layout: Record<string, number[]>;
}

interface CheckpointState {
  format: 1;
  fingerprint: string;
  federationId?: string;
  strategy: string;
  modelVersion: number;
  rounds: RoundRecord[];
  /** The strategy's server-side optimizer state (momentum, moments), when it has one. */
  strategyState?: SavedStrategyState | null;
}

export interface CheckpointContent {
  /** The federation's id (NATS subjects): a resumed run goes on under the same one. Absent from older checkpoints. */
  federationId?: string;
  strategy: string;
  modelVersion: number;
  rounds: RoundRecord[];
  strategyState: StrategyState | null;
}

export interface Checkpoint extends CheckpointContent {
  weights: Float32Array[];
}

/**
 * Writes the model and the strategy state first, then the state file that points at them, so a torn
 * write leaves the previous checkpoint.
 */
export async function writeCheckpoint(dir: string, model: tfl.LayersModel, spec: ModelSpec, content: CheckpointContent): Promise<void> {
  const { strategyState, ...rest } = content;
  const modelDir = path.join(dir, `model-v${content.modelVersion}`);
  await saveModel(model, modelDir, { spec, modelVersion: content.modelVersion });
  const saved = strategyState ? await writeStrategyState(dir, `strategy-v${content.modelVersion}.bin`, strategyState) : null;
  const full: CheckpointState = { format: 1, fingerprint: modelFingerprint(spec), ...rest, strategyState: saved };
  await writeFileAtomically(path.join(dir, STATE_FILE), JSON.stringify(full, null, 2));
  // Older model versions and strategy states are no longer referenced.
  const keep = new Set([path.basename(modelDir), saved?.file]);
  for (const e of await fs.readdir(dir)) {
    if ((e.startsWith("model-v") || e.startsWith("strategy-v")) && !keep.has(e)) await fs.rm(path.join(dir, e), { recursive: true, force: true });
  }
}

async function writeStrategyState(dir: string, file: string, state: StrategyState): Promise<SavedStrategyState> {
  const names = Object.keys(state.arrays).sort();
  const layers = names.flatMap((n) => state.arrays[n]);
  const bytes = Buffer.concat(layers.map((l) => Buffer.from(l.buffer, l.byteOffset, l.byteLength)));
  await fs.writeFile(path.join(dir, file), bytes);
  return { file, scalars: { ...state.scalars }, layout: Object.fromEntries(names.map((n) => [n, state.arrays[n].map((l) => l.length)])) };
}

async function readStrategyState(dir: string, saved: SavedStrategyState): Promise<StrategyState> {
  if (path.basename(saved.file) !== saved.file) throw new UserError(`checkpoint ${dir}: strategy state file '${saved.file}' is not a plain file name`);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(dir, saved.file));
  } catch (e) {
    throw new UserError(`checkpoint ${dir}: cannot read the strategy state ${saved.file}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const names = Object.keys(saved.layout).sort();
  const expected = 4 * names.reduce((n, k) => n + saved.layout[k].reduce((a, b) => a + b, 0), 0);
  if (bytes.byteLength !== expected) throw new UserError(`checkpoint ${dir}: ${saved.file} has ${bytes.byteLength} bytes, its layout needs ${expected}`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  const arrays: Record<string, Float32Array[]> = {};
  for (const n of names) {
    arrays[n] = saved.layout[n].map((len) => {
      const layer = all.subarray(offset, offset + len);
      offset += len;
      return layer;
    });
  }
  return { scalars: { ...saved.scalars }, arrays };
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
  const strategyState = state.strategyState ? await readStrategyState(dir, state.strategyState) : null;
  const federationId = typeof state.federationId === "string" && state.federationId ? state.federationId : undefined;
  return { weights, modelVersion: state.modelVersion, rounds: state.rounds, strategy: state.strategy, strategyState, federationId };
}
