/**
 * A site's client: dials out to the coordinator, joins, then loops on tasks — download the global model,
 * evaluate it on the held-out split, train locally, upload the delta — until the federation finishes.
 * Transient link failures are retried; a coordinator that forgot the session (restart) is re-joined.
 */
import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { ErrorFeedback } from "../../shared/codec/errorFeedback.js";
import { decodeEncodedPayload, encodePayload, type EncodedPayload, type NamedTensor } from "../../shared/codec/payload.js";
import { modelSpecFromWire } from "../../shared/codec/modelSpecWire.js";
import { UserError } from "../../shared/errors.js";
import { Encoding, type TrainTask } from "../../shared/generated/fedfusion/v1/federation.js";
import type { Logger } from "../../shared/logging.js";
import { mergeFederated, parseFederateMode } from "../../shared/model/federatedParts.js";
import { modelFingerprint } from "../../shared/model/fingerprint.js";
import type { ModelSpec } from "../../shared/model/modelSpec.js";
import type { Normals } from "../../shared/privacy/gaussianNoise.js";
import type { SiteTrainer } from "../training/siteTrainer.js";
import { DownloadBuffers } from "./downloadBuffers.js";
import { Heartbeats } from "./heartbeats.js";
import { localEpsilon, privatizeUpdate, type LocalPrivacy } from "./localPrivacy.js";
import { CoordinatorConnection, type ConnectionOptions } from "./coordinatorConnection.js";
import { describeGrpcError, withRetry, type RetryPolicy } from "./retry.js";
import type { OpenedSiteData, SiteData } from "./siteData.js";

export interface ClientAgentOptions {
  connection: ConnectionOptions;
  siteName: string;
  data: SiteData;
  /** The model this site insists on; null = whatever the federation runs (it still must fit the data). */
  model: { architecture: string; inputShape: [number, number, number] | null; fusion?: ModelSpec["fusion"] } | null;
  backend: string;
  trainerFor: (spec: ModelSpec) => SiteTrainer;
  retry: RetryPolicy;
  /** Give up joining when the coordinator cannot be reached for this long. */
  connectTimeoutMs: number;
  log: Logger;
  /** A transform of the delta before it is sent (simulated Byzantine clients). */
  transformUpdate?: (delta: Float32Array[]) => Float32Array[];
  /** Local differential privacy: each update clipped and noised here, before it is sent (see localPrivacy.ts). */
  privacy?: { settings: LocalPrivacy; normals: Normals };
}

export interface ClientRunSummary {
  roundsTrained: number;
  finalModelVersion: number;
}

const POLL_WAIT_MS = 20_000;

export async function runClientAgent(o: ClientAgentOptions): Promise<ClientRunSummary> {
  const conn = new CoordinatorConnection(o.connection);
  let openedData = null as OpenedSiteData | null;
  // Whatever this thread is doing (training, a long transfer, a retry's backoff), the coordinator hears from
  // this client as often as it asked to, so it does not close the session.
  const log = o.log;
  const heartbeats = new Heartbeats(o.connection, conn, log);
  try {
    const classNames = await o.data.classNames();
    const numExamples = await o.data.exampleCount();
    let data: OpenedSiteData | null = null;
    let spec: ModelSpec | null = null;
    let trainer: SiteTrainer | null = null;
    let cached = null as { version: number; weights: Float32Array[] } | null;
    const downloadBuffers = new DownloadBuffers();
    let roundsTrained = 0;
    let updatesSent = 0;

    // This process's id: a retried join gets its session back instead of leaving a second one behind.
    const instanceId = randomUUID();
    /** The coordinator process this client last joined (JoinResponse.coordinator_instance). */
    let coordinatorInstance = "";
    const join = async (): Promise<string> => {
      const request = {
        siteName: o.siteName,
        numExamples,
        backend: o.backend,
        model: {
          architecture: o.model?.architecture ?? "",
          fingerprint: "",
          inputShape: o.model?.inputShape ?? [],
          classNames,
          parameterCount: 0,
          configJson: o.model?.fusion ? JSON.stringify(o.model.fusion) : "",
        },
        clientVersion: "fedfusion/0.1.0",
        instanceId,
        supportedEncodings: [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_FLOAT16, Encoding.ENCODING_INT8, Encoding.ENCODING_TOPK],
        extensions: {},
      };
      const response = await withRetry("join", { ...o.retry, budgetMs: o.connectTimeoutMs }, () => conn.join(request), log).catch((e) => {
        throw joinError(e, o.connection.address);
      });
      const federationSpec = modelSpecFromWire(response.model);
      if (response.model?.fingerprint !== modelFingerprint(federationSpec)) {
        throw new UserError("the coordinator's model fingerprint does not match its own spec: incompatible fedfusion versions");
      }
      if (!spec) {
        spec = federationSpec;
        data = await o.data.open(spec.inputShape, spec.classNames, log);
        openedData = data;
        trainer = o.trainerFor(spec);
        log(`joined ${o.connection.address} as ${o.siteName}: model ${spec.architecture}, ${data.train.count} training / ${data.validation.count} validation examples${data.streaming ? " (streamed from disk)" : ""}`);
      } else if (modelFingerprint(spec) !== modelFingerprint(federationSpec)) {
        throw new UserError("the coordinator restarted with a different model; restart this client");
      } else if (cached && response.coordinatorInstance !== coordinatorInstance) {
        // A new coordinator process: resumed from a checkpoint, which may be older than the model this client
        // holds, so the same version number can name different weights now.
        cached = null;
        log(`re-joined ${o.connection.address} as ${o.siteName}; the coordinator restarted, so the cached global model is dropped (its version may name other weights now)`);
      } else {
        log(`re-joined ${o.connection.address} as ${o.siteName}${cached ? "; the same coordinator process, so the cached global model is kept" : ""}`);
      }
      coordinatorInstance = response.coordinatorInstance;
      heartbeats.every(response.sessionId, response.heartbeatMs);
      return response.sessionId;
    };

    let sessionId = await join();
    // Lossy encodings drop part of each update; error feedback carries it into the next round's.
    const feedback = new ErrorFeedback([]);
    const encodeUpdate = (tensors: NamedTensor[], encoding: Encoding, topkFraction: number): EncodedPayload => {
      if (encoding === Encoding.ENCODING_FLOAT32 || encoding === Encoding.ENCODING_UNSPECIFIED) return encodePayload(tensors);
      const compensated = feedback.compensate(tensors.map((t) => t.values), tensors.map((t) => t.shape));
      const payload = encodePayload(tensors.map((t, i) => ({ ...t, values: compensated[i] })), encoding, { topkFraction });
      feedback.record(decodeEncodedPayload(payload).map((t) => t.values), compensated);
      return payload;
    };
    // The latest train task's federated weights; frozen ones never change, so once this client holds them
    // it downloads only the federated ones.
    let federated: number[] | null = null;
    const fetchModel = async (tr: SiteTrainer, version: number): Promise<Float32Array[] | null> => {
      if (cached?.version === version) return cached.weights;
      const fed = federated;
      const partial = cached !== null && fed !== null && fed.length < tr.specs.length;
      const expected = partial ? fed.map((i) => tr.specs[i]) : tr.specs;
      let tensors: NamedTensor[];
      try {
        tensors = await call("download", (s) => conn.downloadModel(s, version, expected, partial, 600_000, downloadBuffers.take, downloadBuffers.space));
      } catch (e) {
        if ((e as { code?: number }).code === status.FAILED_PRECONDITION) return null;
        throw e;
      }
      const values = tensors.map((x) => x.values);
      const previous = cached?.weights ?? [];
      cached = { version, weights: partial ? mergeFederated(cached!.weights, fed, values) : values };
      // Only the new version is written into the model from here on.
      downloadBuffers.retire(previous, cached.weights);
      return cached.weights;
    };
    // Federated evaluation: the global model on this site's held-out split; only the metrics leave.
    const evaluateAndReport = async (tr: SiteTrainer, site: OpenedSiteData, round: number, version: number, weights: Float32Array[]) => {
      // A site without held-out data still answers (0 examples), so the coordinator need not wait for it.
      const ev = site.validation.count > 0 ? await tr.evaluate(weights, site.validation) : { examples: 0, loss: 0, accuracy: 0 };
      await call("report evaluation", (s) =>
        conn.reportEvaluation({ sessionId: s, round, modelVersion: version, numExamples: ev.examples, loss: ev.loss, accuracy: ev.accuracy }),
      ).catch((e) => log(`evaluation report failed: ${describeGrpcError(e)}`));
    };
    // Any call: transient failures retried; a forgotten session re-joined once per failure.
    const call = async <T>(what: string, f: (session: string) => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await withRetry(what, o.retry, () => f(sessionId), log);
        } catch (e) {
          const code = (e as { code?: number }).code;
          if (code === status.PERMISSION_DENIED) {
            throw new UserError(`the coordinator closed this client's session (${describeGrpcError(e)}): is another client running as ${o.siteName}?`);
          }
          if (code !== status.NOT_FOUND) throw e;
          log(`coordinator does not know this session (${describeGrpcError(e)}); joining again`);
          sessionId = await join();
        }
      }
    };

    for (;;) {
      const task = await call("get task", (s) => conn.getTask(s, POLL_WAIT_MS));
      const kind = task.kind;
      if (!kind || kind.$case === "wait") continue;
      if (kind.$case === "finished") {
        await conn.leave(sessionId, "federation finished");
        log(`federation finished at model version ${kind.value.finalModelVersion}; trained ${roundsTrained} rounds`);
        return { roundsTrained, finalModelVersion: kind.value.finalModelVersion };
      }
      const tr = trainer!;
      const site = data!;
      if (kind.$case === "evaluate") {
        const weights = await fetchModel(tr, kind.value.modelVersion);
        if (weights) await evaluateAndReport(tr, site, kind.value.round, kind.value.modelVersion, weights);
        continue;
      }
      const t: TrainTask = kind.value;
      const cfg = t.config!;
      const federate = parseFederateMode(cfg.federate || "all");
      federated = tr.federated(federate);
      const global = await fetchModel(tr, t.modelVersion);
      if (!global) continue; // the round moved on while we asked
      await evaluateAndReport(tr, site, t.round, t.modelVersion, global);
      const { delta, result } = await tr.train(global, site.train, {
        federate,
        epochs: cfg.localEpochs,
        batchSize: cfg.batchSize,
        learningRate: cfg.learningRate,
        optimizer: cfg.optimizer === "sgd" ? "sgd" : "adam",
        proximalMu: cfg.proximalMu,
        seed: cfg.seed,
        augment: cfg.augmentFlip || cfg.augmentCropPadding > 0 ? { flip: cfg.augmentFlip, cropPadding: cfg.augmentCropPadding } : undefined,
      });
      const transformed = o.transformUpdate ? o.transformUpdate(delta) : delta;
      const update = o.privacy ? privatizeUpdate(transformed, o.privacy.settings, o.privacy.normals) : transformed;
      const payload = encodeUpdate(federated.map((idx, k) => ({ ...tr.specs[idx], values: update[k] })), cfg.updateEncoding, cfg.topkFraction);
      const header = {
        sessionId: "",
        round: t.round,
        baseModelVersion: t.modelVersion,
        numExamples: site.train.count,
        metrics: { loss: result.loss, accuracy: result.accuracy, steps: result.steps, trainMillis: result.millis, skippedFiles: site.skippedFiles },
        manifest: undefined,
        extensions: {},
      };
      const ack = await call("upload", (s) => conn.uploadUpdate({ ...header, sessionId: s }, payload, 600_000));
      roundsTrained += ack.accepted ? 1 : 0;
      updatesSent++; // accepted or not, it left the site
      const privacy = o.privacy ? `; privacy spent ε=${localEpsilon(o.privacy.settings, updatesSent).toPrecision(3)} δ=${o.privacy.settings.delta} over ${updatesSent} updates` : "";
      log(
        `round ${t.round}: trained ${result.steps} ${result.runner} steps in ${(result.millis / 1000).toFixed(1)}s, loss ${result.loss.toFixed(4)}, ` +
          `accuracy ${(100 * result.accuracy).toFixed(1)}%; update ${ack.accepted ? "accepted" : `rejected (${ack.reason})`}${privacy}`,
      );
    }
  } finally {
    heartbeats.stop();
    conn.close();
    await openedData?.close();
  }
}

function joinError(e: unknown, address: string): Error {
  const code = (e as { code?: number }).code;
  if (code === status.FAILED_PRECONDITION || code === status.INVALID_ARGUMENT || code === status.PERMISSION_DENIED) {
    return new UserError(`coordinator at ${address} refused this client: ${(e as { details?: string }).details}`);
  }
  if (typeof code === "number") return new UserError(`cannot reach coordinator at ${address}: ${describeGrpcError(e)}`);
  return e as Error;
}
