/**
 * A whole federation on one machine: the coordinator in this process, the clients in worker processes
 * (one per core by default) as real gRPC peers on loopback. The dataset is partitioned here and each
 * client's shard written to its own file, which only that client reads.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { localEpsilon, type LocalPrivacy } from "../../client/agent/localPrivacy.js";
import { writeDatasetFile } from "../../client/data/datasetFile.js";
import { capPartition, formatHistograms, partitionIndices, type PartitionSpec } from "../../client/data/partition.js";
import { startCoordinator } from "../../coordinator/coordinator.js";
import type { MetricsDocument } from "../../coordinator/metricsFile.js";
import type { RoundSettings } from "../../coordinator/rounds/types.js";
import type { Strategy } from "../../coordinator/strategies/strategy.js";
import type { BackendChoice } from "../../shared/backends/selectBackend.js";
import { subset, type ImageDataset } from "../../shared/data/imageDataset.js";
import type { Logger } from "../../shared/logging.js";
import type { ModelSpec } from "../../shared/model/modelSpec.js";
import type { Attack } from "./attacks.js";
import type { WorkerConfig } from "./simulationWorker.js";

export interface SimulationOptions {
  train: ImageDataset;
  test?: ImageDataset;
  spec: ModelSpec;
  clients: number;
  partition: PartitionSpec;
  /** Per-client cap on training examples (a seeded random subset of the client's partition). */
  samplesPerClient?: number;
  workers: number;
  backend: BackendChoice;
  strategy: Strategy;
  settings: RoundSettings;
  initModelDir?: string;
  checkpointDir?: string;
  eventsUrl?: string;
  resume?: boolean;
  outDir?: string;
  config: Record<string, unknown>;
  verbose: boolean;
  /** The first `count` clients tamper with their updates. */
  byzantine?: { count: number; attack: Attack };
  /** Every client clips and noises its updates (local differential privacy). */
  privacy?: LocalPrivacy;
  log: Logger;
}

export async function runSimulation(o: SimulationOptions): Promise<MetricsDocument> {
  const log = o.log;
  const parts = capPartition(
    partitionIndices(o.train.labels.subarray(0, o.train.count), o.train.classNames.length, o.clients, o.partition, o.settings.seed),
    o.samplesPerClient,
    o.settings.seed,
  );
  log(`partition ${JSON.stringify(o.partition)} over ${o.clients} clients:\n${formatHistograms(parts, o.train.labels, o.train.classNames)}`);

  const shardDir = await mkdtemp(path.join(os.tmpdir(), "fedfusion-sim-"));
  const children: ChildProcess[] = [];
  try {
    const clients = await Promise.all(
      parts.map(async (idx, i) => {
        const name = `client-${String(i + 1).padStart(String(o.clients).length, "0")}`;
        const shardFile = path.join(shardDir, `${name}.ffds`);
        await writeDatasetFile(shardFile, subset(o.train, idx));
        const attack = o.byzantine && i < o.byzantine.count ? o.byzantine.attack : undefined;
        return { name, shardFile, attack };
      }),
    );
    const coordinator = await startCoordinator({
      host: "127.0.0.1",
      port: 0,
      spec: o.spec,
      initModelDir: o.initModelDir,
      checkpointDir: o.checkpointDir,
      eventsUrl: o.eventsUrl,
      resume: o.resume,
      strategy: o.strategy,
      settings: o.settings,
      testSet: o.test,
      outDir: o.outDir,
      config: o.config,
      log,
    });
    const workerFile = fileURLToPath(new URL("./simulationWorker.js", import.meta.url));
    const workers = Math.max(1, Math.min(o.workers, o.clients));
    log(`starting ${o.clients} clients in ${workers} worker processes${o.byzantine?.count ? `; ${o.byzantine.count} of them Byzantine (${JSON.stringify(o.byzantine.attack)})` : ""}`);
    if (o.privacy) {
      const p = o.privacy;
      log(`local differential privacy: each client clips its updates to L2 norm ${p.clippingNorm} and adds noise (multiplier ${p.noiseMultiplier}): ε=${localEpsilon(p, o.settings.rounds).toPrecision(3)} (δ=${p.delta}) per client over ${o.settings.rounds} rounds`);
    }
    const exits: Promise<void>[] = [];
    for (let w = 0; w < workers; w++) {
      const config: WorkerConfig = {
        address: `127.0.0.1:${coordinator.port}`,
        backend: o.backend,
        clients: clients.filter((_, i) => i % workers === w),
        seed: o.settings.seed,
        verbose: o.verbose,
        privacy: o.privacy,
      };
      const child = fork(workerFile, [JSON.stringify(config)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.push(child);
      exits.push(
        new Promise((resolve, reject) =>
          child.once("exit", (code, signal) => (code === 0 ? resolve() : reject(new Error(`simulation worker ${w + 1} exited with ${signal ?? `code ${code}`}`)))),
        ),
      );
    }
    // A worker that dies ends the run rather than leaving the coordinator waiting for its round deadline.
    const failure = Promise.all(exits).then(
      () => new Promise<never>(() => undefined),
      async (e: Error) => {
        await coordinator.stop(e.message);
        throw e;
      },
    );
    const result = await Promise.race([coordinator.done, failure]);
    await Promise.race([Promise.allSettled(exits), new Promise((r) => setTimeout(r, 10_000))]);
    return result;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    await rm(shardDir, { recursive: true, force: true });
  }
}
