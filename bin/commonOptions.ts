/** Flags shared by the commands (`coordinator` and `simulate`; `client` and `simulate`), and what they become. */
import os from "node:os";
import { readFileSync } from "node:fs";
import type { LocalPrivacy } from "../client/agent/localPrivacy.js";
import type { DownloadEncodingName, RoundSettings, UpdateEncoding } from "../coordinator/rounds/types.js";
import { createStrategy, STRATEGY_NAMES } from "../coordinator/strategies/createStrategy.js";
import { parseStrategyOptions } from "../coordinator/strategies/options.js";
import type { Strategy } from "../coordinator/strategies/strategy.js";
import { BACKEND_CHOICES } from "../shared/backends/selectBackend.js";
import { UserError } from "../shared/errors.js";
import { FEDERATE_MODES, type FederateMode } from "../shared/model/federatedParts.js";
import { parseSchedule } from "../shared/model/learningRateSchedule.js";
import { ARCHITECTURES } from "../shared/model/modelSpec.js";
import type { OptionDefs, ParsedOptions } from "./cliOptions.js";

export const backendOption = {
  backend: { kind: "string", choices: BACKEND_CHOICES, default: "auto", help: "TensorFlow.js backend" },
} as const satisfies OptionDefs;

export const lrScheduleOption = {
  "lr-schedule": {
    kind: "string",
    default: "constant",
    meta: "constant|cosine[:MIN]",
    help: "learning rate per round (federated) or epoch (train): constant, or cosine decay from --lr towards MIN",
  },
} as const satisfies OptionDefs;

export const federationOptions = {
  model: { kind: "string", choices: ARCHITECTURES, default: "cnn", help: "model architecture" },
  rounds: { kind: "int", min: 1, max: 100000, default: 5, help: "training rounds" },
  fraction: { kind: "number", min: 0, max: 1, default: 1, help: "share of clients selected per round" },
  "min-fit-clients": { kind: "int", min: 1, default: 1, help: "clients selected per round at least" },
  "round-timeout": { kind: "number", min: 1, default: 600, help: "seconds before a round closes with the updates it has" },
  "session-timeout": { kind: "number", min: 0, default: 60, help: "seconds without a word from a client (it sends a heartbeat every quarter of this) before its session is closed; 0 = never" },
  "local-epochs": { kind: "int", min: 1, max: 1000, default: 1, help: "local epochs per round" },
  "batch-size": { kind: "int", min: 1, max: 65536, default: 32, help: "local minibatch size" },
  lr: { kind: "number", min: 0, max: 10, default: 0.001, help: "local learning rate" },
  ...lrScheduleOption,
  optimizer: { kind: "string", choices: ["adam", "sgd"], default: "adam", help: "local optimizer" },
  strategy: { kind: "string", choices: STRATEGY_NAMES, default: "fedavg", help: "aggregation strategy" },
  "strategy-opt": { kind: "list", meta: "KEY=VALUE", help: "strategy option, repeatable (e.g. eta=0.01)" },
  "max-update-norm": { kind: "number", min: 0, default: 0, help: "reject updates with a larger L2 norm (0 = no bound)" },
  seed: { kind: "int", min: 0, max: 2 ** 32 - 1, default: 42, help: "seed for initial weights, sampling and shuffling" },
  out: { kind: "string", meta: "DIR", help: "write metrics.json and the final model here" },
  "init-model": { kind: "string", meta: "DIR", help: "start from this saved model instead of fresh weights" },
  "update-encoding": { kind: "string", default: "float32", meta: "float32|float16|int8|topk:F", help: "how clients encode updates (lossy ones use error feedback)" },
  "download-encoding": { kind: "string", choices: ["float32", "float16", "int8"], default: "float32", help: "how the global model travels to clients (rounded copies; the coordinator keeps float32 and applies the deltas to it)" },
  events: { kind: "string", meta: "nats://HOST:PORT", help: "publish each round's metrics as JSON on NATS (fedfusion.<id>.round)" },
  checkpoint: { kind: "string", meta: "DIR", help: "write a checkpoint here after every round" },
  resume: { kind: "boolean", help: "continue from the checkpoint in --checkpoint DIR (if any)" },
  "augment-flip": { kind: "boolean", help: "clients flip training images at random (horizontal)" },
  "augment-crop-padding": { kind: "int", min: 0, max: 64, default: 0, help: "clients crop training images at random after padding by this many pixels" },
  federate: { kind: "string", choices: FEDERATE_MODES, default: "all", help: "which weights clients train and send (the rest stay frozen)" },
} as const satisfies OptionDefs;

type FederationParsed = ParsedOptions<typeof federationOptions>;

export function strategyFrom(o: FederationParsed): Strategy {
  return createStrategy(o.strategy, parseStrategyOptions(o["strategy-opt"] ?? []));
}

export function roundSettingsFrom(o: FederationParsed, minClients: number, strategy: Strategy): RoundSettings {
  return {
    rounds: o.rounds,
    minClients,
    fraction: o.fraction,
    minFitClients: Math.min(o["min-fit-clients"], minClients),
    roundTimeoutMs: o["round-timeout"] * 1000,
    sessionTimeoutMs: o["session-timeout"] * 1000,
    seed: o.seed,
    maxUpdateNorm: o["max-update-norm"],
    training: {
      localEpochs: o["local-epochs"],
      batchSize: o["batch-size"],
      learningRate: o.lr,
      learningRateSchedule: parseSchedule(o["lr-schedule"], o.lr),
      optimizer: o.optimizer as "adam" | "sgd",
      proximalMu: strategy.proximalMu ?? 0,
      federate: o.federate as FederateMode,
      updateEncoding: parseUpdateEncoding(o["update-encoding"]),
      downloadEncoding: o["download-encoding"] as DownloadEncodingName,
      augment: { flip: o["augment-flip"] ?? false, cropPadding: o["augment-crop-padding"] },
    },
  };
}

/** "float16" → float16; "topk:0.01" → top-k keeping 1% of each tensor. */
export function parseUpdateEncoding(s: string): UpdateEncoding {
  const [name, arg] = s.split(":");
  if (name === "topk") {
    const f = Number(arg);
    if (!(f > 0 && f <= 1)) throw new UserError(`--update-encoding topk needs a fraction in (0, 1], e.g. topk:0.01, got '${s}'`);
    return { encoding: "topk", topkFraction: f };
  }
  if ((name === "float32" || name === "float16" || name === "int8") && arg === undefined) return { encoding: name, topkFraction: 0 };
  throw new UserError(`unknown update encoding '${s}': expected float32, float16, int8 or topk:<fraction>`);
}

export function readPem(flag: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UserError(`--${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export const defaultSiteName = () => os.hostname();

/** Local differential privacy for `client` and `simulate` (client/agent/localPrivacy.ts). */
export const localPrivacyOptions = {
  "privacy-clip": { kind: "number", min: 0, meta: "C", help: "local differential privacy: clip each update to this L2 norm before it leaves the site (with --privacy-noise)" },
  "privacy-noise": { kind: "number", min: 0, meta: "Z", help: "local differential privacy: add Gaussian noise of standard deviation Z·C to every value of the update" },
  "privacy-delta": { kind: "number", min: 0, max: 1, default: 1e-5, help: "δ of the (ε, δ) the site reports spending" },
} as const satisfies OptionDefs;

export function localPrivacyFrom(o: ParsedOptions<typeof localPrivacyOptions>, command: string): LocalPrivacy | undefined {
  const clip = o["privacy-clip"];
  const noise = o["privacy-noise"];
  if (clip === undefined && noise === undefined) return undefined;
  if (clip === undefined || noise === undefined) throw new UserError(`${command}: --privacy-clip and --privacy-noise go together`);
  if (!(clip > 0)) throw new UserError(`${command}: --privacy-clip must be above 0, got ${clip}`);
  const delta = o["privacy-delta"];
  if (!(delta > 0 && delta < 1)) throw new UserError(`${command}: --privacy-delta must be between 0 and 1 (exclusive), got ${delta}`);
  return { clippingNorm: clip, noiseMultiplier: noise, delta };
}
