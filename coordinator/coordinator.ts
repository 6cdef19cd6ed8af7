/**
 * The coordinator process: builds the global model, runs the round state machine behind the gRPC service,
 * evaluates each new global model on the central test set, logs one line per round, and writes
 * metrics.json and the final model.
 */
import { randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ImageDataset } from "../shared/data/imageDataset.js";
import { UserError } from "../shared/errors.js";
import { ChunkedFederationService } from "../shared/codec/chunkMessages.js";
import type { Logger } from "../shared/logging.js";
import { buildModel } from "../shared/model/architectures.js";
import { evaluateModel } from "../shared/model/evaluate.js";
import { federatedIndices, mergeFederated } from "../shared/model/federatedParts.js";
import { modelFingerprint } from "../shared/model/fingerprint.js";
import type { ModelSpec } from "../shared/model/modelSpec.js";
import { loadModel, saveModel } from "../shared/model/modelStore.js";
import { initialWeights, parameterCount, readWeights, weightSpecs, writeWeights } from "../shared/model/weights.js";
import { readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import { connectNatsEvents } from "./events/natsEvents.js";
import { formatRound } from "./roundLog.js";
import { writeMetrics, type MetricsDocument } from "./metricsFile.js";
import { RoundStateMachine } from "./rounds/roundStateMachine.js";
import type { RoundSettings } from "./rounds/types.js";
import type { Strategy } from "./strategies/strategy.js";
import { createFederationService } from "./transport/federationService.js";
import { installFramedSends } from "../shared/codec/framedSends.js";
import { installPooledReceives } from "../shared/codec/pooledReceives.js";
import { keepFreedMemory } from "../shared/keepFreedMemory.js";
import { DEFAULT_RECEIVE_WINDOW, setReceiveWindow } from "./transport/receiveWindow.js";

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: Buffer;
}

export interface CoordinatorOptions {
  host: string;
  port: number;
  spec: ModelSpec;
  /** Start from this saved model instead of fresh seeded weights. */
  initModelDir?: string;
  /** Write a checkpoint here after every round. */
  checkpointDir?: string;
  /** Continue from the checkpoint in checkpointDir, if there is one. */
  resume?: boolean;
  strategy: Strategy;
  settings: RoundSettings;
  testSet?: ImageDataset;
  outDir?: string;
  tls?: TlsFiles;
  /** Publish round metrics on NATS (nats://host:port). */
  eventsUrl?: string;
  /** HTTP/2 receive window per upload and per connection, bytes (default 4 MiB; see receiveWindow.ts). */
  receiveWindowBytes?: number;
  /** Recorded in metrics.json as the run's configuration. */
  config: Record<string, unknown>;
  log: Logger;
}

export interface RunningCoordinator {
  port: number;
  /** Resolves when every round is done and the outputs are written. */
  done: Promise<MetricsDocument>;
  stop(reason?: string): Promise<void>;
}

export async function startCoordinator(o: CoordinatorOptions): Promise<RunningCoordinator> {
  const { spec, log } = o;
  const model = buildModel(spec);
  const specs = weightSpecs(model);
  let weights = initialWeights(specs, o.settings.seed);
  if (o.initModelDir) {
    const loaded = await loadModel(o.initModelDir);
    if (loaded.meta.fingerprint !== modelFingerprint(spec)) {
      throw new UserError(`--init-model ${o.initModelDir} is a '${loaded.meta.spec.architecture}' model that does not match the federation's model`);
    }
    weights = readWeights(loaded.model);
    loaded.model.dispose();
  }
  const federated = federatedIndices(specs, o.settings.training.federate);
  if (federated.length === 0) throw new UserError(`--federate ${o.settings.training.federate} leaves no weights of '${spec.architecture}' to federate`);
  // Where the run writes must be writable before the first round, not found unwritable after it.
  for (const [what, dir] of [["checkpoint", o.checkpointDir], ["output", o.outDir]] as const) {
    if (dir) await fs.mkdir(dir, { recursive: true }).catch((e: Error) => Promise.reject(new UserError(`cannot create the ${what} directory ${dir}: ${e.message}`)));
  }
  const checkpoint = o.resume && o.checkpointDir ? await readCheckpoint(o.checkpointDir, spec) : null;
  if (o.resume && !checkpoint) log(`no checkpoint in ${o.checkpointDir} yet: starting from round 1`);
  if (checkpoint) {
    if (checkpoint.rounds.length >= o.settings.rounds) {
      throw new UserError(`checkpoint ${o.checkpointDir} already holds all ${checkpoint.rounds.length} rounds; raise --rounds to train further`);
    }
    weights = checkpoint.weights;
    log(`resuming from ${o.checkpointDir}: ${checkpoint.rounds.length} rounds done, model version ${checkpoint.modelVersion}`);
    if (checkpoint.strategyState && o.strategy.name === checkpoint.strategy && o.strategy.importState) {
      try {
        o.strategy.importState(checkpoint.strategyState);
      } catch (e) {
        throw new UserError(`checkpoint ${o.checkpointDir}: ${(e as Error).message}`);
      }
      const { arrays, scalars } = checkpoint.strategyState;
      log(
        Object.keys(arrays).length > 0
          ? `restored ${o.strategy.name}'s server-side optimizer state (${Object.keys(arrays).join(", ")})`
          : `restored ${o.strategy.name}'s state (${Object.entries(scalars).map(([k, v]) => `${k} ${v}`).join(", ")})`,
      );
    } else if (o.strategy.name !== checkpoint.strategy && o.strategy.exportState) {
      log(`note: the checkpoint was written by ${checkpoint.strategy}: ${o.strategy.name} starts without server-side optimizer state`);
    }
  }
  const frozen = weights;
  const params = parameterCount(specs);
  const federatedParams = parameterCount(federated.map((i) => specs[i]));
  if (federated.length < specs.length) {
    log(`partial federation (${o.settings.training.federate}): ${federatedParams.toLocaleString("en")} of ${params.toLocaleString("en")} parameters train and travel; the rest stay frozen`);
  }
  log(`model ${spec.architecture} (${params.toLocaleString("en")} parameters, input ${spec.inputShape.join("x")}, ${spec.classNames.length} classes, fingerprint ${modelFingerprint(spec)})`);

  const testSet = o.testSet;
  // One tfjs model serves evaluation, checkpoints and the final save; they take turns with it.
  let modelQueue: Promise<unknown> = Promise.resolve();
  const withModel = <T>(job: () => T | Promise<T>): Promise<T> => {
    const run = modelQueue.then(job);
    modelQueue = run.catch(() => undefined);
    return run;
  };
  // Metrics and checkpoint writes, in order; the machine waits for them before the federation finishes.
  // The first that fails ends the run as a crash would, with its error: what was written before it stays
  // intact, and the clients hear nothing, so they keep retrying and re-join a coordinator restarted with
  // --resume instead of leaving as if the federation had finished.
  let writes = Promise.resolve();
  let failRun = (_: Error): void => undefined; // set once `done` exists
  const queueWrite = (what: string, job: () => Promise<void>): Promise<void> => {
    writes = writes.then(job).catch((e: unknown) => {
      throw e instanceof UserError ? e : new UserError(`cannot write ${what}: ${(e as Error).message}`);
    });
    writes.catch((e: Error) => failRun(e));
    return writes;
  };
  const machine = new RoundStateMachine({
    settings: o.settings,
    shapes: federated.map((i) => specs[i].shape),
    initialWeights: federated.map((i) => weights[i]),
    strategy: o.strategy,
    resume: checkpoint ? { history: checkpoint.rounds, modelVersion: checkpoint.modelVersion } : undefined,
    evaluate: testSet
      ? (w) =>
          withModel(() => {
            writeWeights(model, mergeFederated(frozen, federated, w));
            return evaluateModel(model, testSet);
          })
      : undefined,
    durable: () => writes,
    log,
  });

  // A resumed federation keeps its id, so whoever follows its events (fedfusion.<id>.*) still sees it.
  const federationId = checkpoint?.federationId ?? randomUUID();
  log(`federation ${federationId}`);
  const events = o.eventsUrl ? await connectNatsEvents(o.eventsUrl, federationId, log) : null;
  const server = new grpc.Server({
    // Chunks are ≤ 1 MiB; leave room for headers with large manifests.
    "grpc.max_receive_message_length": 16 << 20,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
  });
  const uploadWindows = setReceiveWindow(server, o.receiveWindowBytes ?? DEFAULT_RECEIVE_WINDOW);
  if (!uploadWindows) log("note: this grpc-js offers no way to raise the receive window; uploads move 64 KiB per round trip");
  if (!installFramedSends("server")) log("note: this grpc-js offers no way to send the cached model without copying it per client");
  if (!installPooledReceives()) log("note: this grpc-js offers no way to receive updates into reused memory");
  keepFreedMemory();
  server.addService(
    ChunkedFederationService,
    createFederationService({
      machine,
      spec,
      weightSpecs: specs,
      federated,
      fullWeights: () => mergeFederated(frozen, federated, machine.globalWeights),
      parameterCount: params,
      federationId,
      maxPollMs: 20_000,
      // Three heartbeats may go missing (a busy link, a long synchronous step) before a session times out.
      heartbeatMs: Math.floor((o.settings.sessionTimeoutMs ?? 0) / 4),
      downloadEncoding: o.settings.training.downloadEncoding,
      uploadWindows: uploadWindows ?? undefined,
    }),
  );
  const credentials = o.tls
    ? grpc.ServerCredentials.createSsl(o.tls.clientCa ?? null, [{ cert_chain: o.tls.cert, private_key: o.tls.key }], Boolean(o.tls.clientCa))
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${o.host}:${o.port}`, credentials, (err, p) =>
      err ? reject(new UserError(`cannot listen on ${o.host}:${o.port}: ${err.message.split("\n")[0]}`)) : resolve(p),
    ),
  );
  log(`listening on ${o.host}:${port}${o.tls ? " (TLS" + (o.tls.clientCa ? ", client certificates required)" : ")") : " (insecure: use --tls-cert/--tls-key beyond a trusted network)"}`);
  log(`waiting for ${o.settings.minClients} clients; ${o.settings.rounds} rounds, strategy ${o.strategy.name}`);
  const downloadEncoding = o.settings.training.downloadEncoding ?? "float32";
  if (downloadEncoding !== "float32") log(`the global model travels as ${downloadEncoding} to clients that decode it (float32 to the others)`);

  const doc: MetricsDocument = { config: o.config, rounds: [...(checkpoint?.rounds ?? [])], final: null };
  const persist = () => (o.outDir ? queueWrite(path.join(o.outDir, "metrics.json"), () => writeMetrics(o.outDir!, doc)) : writes);
  events?.publish("started", {
    config: o.config,
    model: { architecture: spec.architecture, fingerprint: modelFingerprint(spec), parameters: params },
    resumed: checkpoint ? { rounds: checkpoint.rounds.length, modelVersion: checkpoint.modelVersion } : null,
  });
  machine.on("round", (r) => {
    doc.rounds.push(r);
    log(formatRound(r, o.settings.rounds));
    events?.publish("round", { ...r, rounds: o.settings.rounds });
    void persist();
    if (o.checkpointDir) {
      const dir = o.checkpointDir;
      const rounds = [...doc.rounds];
      const version = machine.modelVersion;
      // Copied now: the next round updates the global weights and the strategy's state in place.
      const full = mergeFederated(frozen, federated, machine.globalWeights.map((w) => w.slice()));
      const strategyState = o.strategy.exportState?.() ?? null;
      void queueWrite(`the checkpoint in ${dir}`, () =>
        withModel(async () => {
          writeWeights(model, full);
          await writeCheckpoint(dir, model, spec, { federationId, strategy: o.strategy.name, modelVersion: version, rounds, strategyState });
        }),
      );
    }
  });

  /** Stopped before the end with a checkpoint: the server is down and the clients are left to wait. */
  let paused = false;
  const done = new Promise<MetricsDocument>((resolve, reject) => {
    failRun = (e) => {
      failRun = () => undefined;
      server.forceShutdown();
      machine.stop("a write failed");
      reject(e);
    };
    machine.once("done", () => {
      void (async () => {
        const last = doc.rounds.at(-1);
        const federatedEvaluation = machine.finalFederatedEvaluation;
        doc.final = { accuracy: last?.accuracy ?? null, loss: last?.loss ?? null, modelVersion: machine.modelVersion, federatedEvaluation };
        if (federatedEvaluation) {
          const f = federatedEvaluation;
          log(
            `final model on ${Object.keys(f.sites).length} clients' held-out data: accuracy ${(100 * f.accuracy).toFixed(2)}% ` +
              `(min ${(100 * f.minAccuracy).toFixed(2)}%, max ${(100 * f.maxAccuracy).toFixed(2)}%) over ${f.examples} examples`,
          );
        }
        await persist();
        if (o.outDir) {
          const outDir = o.outDir;
          await withModel(async () => {
            writeWeights(model, mergeFederated(frozen, federated, machine.globalWeights));
            await saveModel(model, path.join(outDir, "model"), { spec, modelVersion: machine.modelVersion });
          });
          log(`wrote ${path.join(o.outDir, "metrics.json")} and ${path.join(o.outDir, "model")}/`);
        }
        if (!paused) {
          // Clients learn that the federation finished from their next GetTask; give them a moment.
          await drain(machine, 3_000);
          await shutdown(server);
        }
        // Paused, the federation has not finished: a resumed run goes on under the same id.
        events?.publish(paused ? "stopped" : "finished", { final: doc.final, rounds: doc.rounds.length });
        await events?.close();
        resolve(doc);
      })().catch(reject);
    });
  });

  return {
    port,
    done,
    async stop(reason = "stopped") {
      // With a checkpoint to resume from, a stop before the last round (a restart, an upgrade) is a pause:
      // told the federation finished, the clients would leave, and the resumed run would have none.
      if (o.checkpointDir && !machine.isDone && machine.rounds.length < o.settings.rounds) {
        paused = true;
        server.forceShutdown();
        log(`${reason}: the clients were not told the federation finished; they re-join when it is restarted with --resume within their --retry-budget`);
      }
      machine.stop(reason);
      await done.catch(() => undefined);
    },
  };
}

async function drain(machine: RoundStateMachine, maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  while (machine.connectedClients > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2_000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
