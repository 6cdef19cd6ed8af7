/**
 * A simulation worker process: hosts several clients, each a real gRPC peer of the coordinator with its own
 * channel and its own shard file, sharing one TensorFlow.js runtime and one model (they take turns training).
 * Started by `fedfusion simulate` with one JSON argument (WorkerConfig).
 */
import { applyAttack, type Attack } from "./attacks.js";
import { runClientAgent } from "../../client/agent/clientAgent.js";
import type { LocalPrivacy } from "../../client/agent/localPrivacy.js";
import { DEFAULT_RETRY } from "../../client/agent/retry.js";
import { datasetFileSite } from "../../client/agent/siteData.js";
import { SiteTrainer } from "../../client/training/siteTrainer.js";
import { initBackend, type BackendChoice } from "../../shared/backends/selectBackend.js";
import { createLogger, silentLogger } from "../../shared/logging.js";
import { modelFingerprint } from "../../shared/model/fingerprint.js";
import type { ModelSpec } from "../../shared/model/modelSpec.js";
import { seededNormals } from "../../shared/privacy/gaussianNoise.js";
import { hashName } from "../../shared/random.js";

export interface WorkerConfig {
  address: string;
  backend: BackendChoice;
  clients: { name: string; shardFile: string; attack?: Attack }[];
  seed: number;
  verbose: boolean;
  privacy?: LocalPrivacy;
}

export async function runSimulationWorker(config: WorkerConfig): Promise<void> {
  await initBackend(config.backend);
  const trainers = new Map<string, SiteTrainer>();
  const trainerFor = (spec: ModelSpec) => {
    const key = modelFingerprint(spec);
    let t = trainers.get(key);
    if (!t) trainers.set(key, (t = new SiteTrainer(spec)));
    return t;
  };
  await Promise.all(
    config.clients.map((c) =>
      runClientAgent({
        connection: { address: config.address },
        siteName: c.name,
        data: datasetFileSite(c.shardFile, config.seed),
        model: null,
        backend: config.backend,
        trainerFor,
        retry: { ...DEFAULT_RETRY, budgetMs: 60_000 },
        connectTimeoutMs: 60_000,
        log: config.verbose ? createLogger(c.name) : silentLogger,
        transformUpdate: c.attack ? (delta) => applyAttack(c.attack!, delta) : undefined,
        // Seeded per client, so a simulation's numbers reproduce; a real site's noise comes from the CSPRNG.
        privacy: config.privacy && { settings: config.privacy, normals: seededNormals((Math.imul(config.seed, 2_654_435_761) ^ hashName(c.name)) >>> 0) },
      }),
    ),
  );
}

// This file is only ever a process entry point (simulation.ts imports its type alone).
if (process.argv[2]) {
  runSimulationWorker(JSON.parse(process.argv[2]) as WorkerConfig).then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`simulation worker: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
