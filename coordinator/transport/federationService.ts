/**
 * gRPC handlers for the Federation service. Each one decodes the request, calls the round state machine,
 * and encodes the answer; no round logic lives here.
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { modelSpecFromWire, modelSpecToWire } from "../../shared/codec/modelSpecWire.js";
import {
  Encoding,
  type FederationServer,
  type Task as WireTask,
} from "../../shared/generated/fedfusion/v1/federation.js";
import { joinMismatch } from "../../shared/model/fingerprint.js";
import type { ModelSpec } from "../../shared/model/modelSpec.js";
import { parameterCount, type WeightSpec } from "../../shared/model/weights.js";
import type { RoundStateMachine } from "../rounds/roundStateMachine.js";
import type { DownloadEncodingName, EncodingName, Task } from "../rounds/types.js";
import { handleDownload } from "./downloadHandler.js";
import { GlobalModelCache } from "./globalModelCache.js";
import { Slots } from "./slots.js";
import type { UploadWindows } from "./receiveWindow.js";
import { UploadGate } from "./uploadGate.js";
import { handleUpload } from "./uploadHandler.js";

export interface FederationServiceOptions {
  machine: RoundStateMachine;
  spec: ModelSpec;
  weightSpecs: WeightSpec[];
  /** Positions of the federated weights (all of them unless the federation is partial). */
  federated: number[];
  /** The whole model: frozen weights merged with the state machine's federated ones. */
  fullWeights: () => Float32Array[];
  parameterCount: number;
  federationId: string;
  /** Longest a GetTask call is held open. */
  maxPollMs: number;
  /** How often clients are asked to send a heartbeat; 0 (default): never. */
  heartbeatMs?: number;
  /** Uploads assembled at once (each holds one model-sized buffer); the rest wait, paused. */
  maxConcurrentUploads?: number;
  /** Widens an admitted upload's HTTP/2 window (setReceiveWindow); without it windows stay as they are. */
  uploadWindows?: UploadWindows;
  /** Downloads sending at once (each holds at most two 1 MiB chunk copies); the rest wait their turn. */
  maxConcurrentDownloads?: number;
  /** How the global model travels to clients that decode it (the others get float32); default float32. */
  downloadEncoding?: DownloadEncodingName;
}

type Status = grpc.status;

function fail(code: Status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

/**
 * Ends a server-streaming call with `e` as its status. Not `call.destroy(e)`: grpc-js (1.14) then never sends
 * a status, and the client waits out its deadline (600 s for a download).
 */
function failStream(call: grpc.ServerWritableStream<unknown, unknown>, e: grpc.ServiceError): void {
  call.emit("error", e);
}

export function createFederationService(o: FederationServiceOptions): FederationServer {
  const { machine } = o;
  // One per process (a service is created once per coordinator process): see JoinResponse.coordinator_instance.
  const coordinatorInstance = randomUUID();
  const federatedSpecs = o.federated.map((i) => o.weightSpecs[i]);
  // One cache per (whole model or federated part, encoding): each version is encoded once for all its clients.
  const caches = new Map<string, GlobalModelCache>();
  const cacheFor = (federatedOnly: boolean, encoding: DownloadEncodingName) => {
    const key = `${federatedOnly}:${encoding}`;
    let cache = caches.get(key);
    if (!cache) caches.set(key, (cache = new GlobalModelCache(federatedOnly ? federatedSpecs : o.weightSpecs, ENCODINGS[encoding])));
    return cache;
  };
  const wanted = o.downloadEncoding ?? "float32";
  const downloadEncodingFor = (sessionId: string): DownloadEncodingName => (machine.client(sessionId)?.encodings.includes(wanted) ? wanted : "float32");
  // The largest honest update: top-k keeping everything sends an index beside each float32 value.
  const updateBytes = 2 * 4 * parameterCount(federatedSpecs) + 4 * federatedSpecs.length;
  const gate = new UploadGate(o.maxConcurrentUploads ?? 2);
  const downloads = new Slots(o.maxConcurrentDownloads ?? 64);
  // NOT_FOUND tells a client to join again (this coordinator restarted); PERMISSION_DENIED, that a newer
  // process of its site took its place, so it must not.
  const sessionError = (id: string): grpc.ServiceError | null => {
    if (machine.heardFrom(id)) return null;
    const closed = machine.closedReason(id);
    return closed ? fail(grpc.status.PERMISSION_DENIED, `session closed: ${closed}`) : fail(grpc.status.NOT_FOUND, "unknown session: join again");
  };

  return {
    join(call, callback) {
      const r = call.request;
      let clientSpec: ModelSpec;
      try {
        clientSpec = modelSpecFromWire(r.model, true);
      } catch (e) {
        return callback(fail(grpc.status.INVALID_ARGUMENT, (e as Error).message));
      }
      const siteName = r.siteName.trim();
      if (!siteName) return callback(fail(grpc.status.INVALID_ARGUMENT, "site name is empty"));
      // Under mutual TLS a site is who its certificate says: one site's certificate must not speak for another
      // (send updates under its name, or close its session by joining as it).
      const certified = call.getAuthContext().sslPeerCertificate?.subject?.CN;
      if (certified !== undefined && certified !== siteName) {
        return callback(fail(grpc.status.PERMISSION_DENIED, `site name '${siteName}' is not the name in its certificate ('${certified}')`));
      }
      if (!(r.numExamples > 0)) return callback(fail(grpc.status.INVALID_ARGUMENT, `site ${siteName} has no training examples`));
      const mismatch = joinMismatch(o.spec, clientSpec);
      if (mismatch) return callback(fail(grpc.status.FAILED_PRECONDITION, `model mismatch: ${mismatch}`));
      const encodings = r.supportedEncodings.map(encodingName).filter((e): e is EncodingName => e !== null);
      const record = machine.join({ siteName, numExamples: r.numExamples, backend: r.backend || "unknown", encodings: ["float32", ...encodings], instanceId: r.instanceId });
      callback(null, {
        sessionId: record.sessionId,
        federationId: o.federationId,
        model: modelSpecToWire(o.spec, o.parameterCount),
        pollWaitMs: o.maxPollMs,
        heartbeatMs: o.heartbeatMs ?? 0,
        extensions: {},
        coordinatorInstance,
      });
    },

    getTask(call, callback) {
      const { sessionId, waitMs } = call.request;
      const refused = sessionError(sessionId);
      if (refused) return callback(refused);
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      machine
        .waitForTask(sessionId, Math.min(waitMs, o.maxPollMs), abort.signal)
        .then((task) => callback(null, taskToWire(task)), (e) => callback(fail(grpc.status.INTERNAL, String(e))));
    },

    downloadModel(call) {
      const { sessionId, modelVersion, federatedOnly } = call.request;
      const refused = sessionError(sessionId);
      if (refused) return failStream(call, refused);
      if (modelVersion !== machine.modelVersion) {
        return failStream(call, fail(grpc.status.FAILED_PRECONDITION, `model version ${modelVersion} is not available (current: ${machine.modelVersion})`));
      }
      const cache = cacheFor(federatedOnly, downloadEncodingFor(sessionId));
      const model = federatedOnly ? cache.get(machine.modelVersion, () => machine.globalWeights) : cache.get(machine.modelVersion, o.fullWeights);
      handleDownload(call, model, { slots: downloads, recordTransfer: (bytes) => machine.recordTransfer("down", bytes) }).catch((e: unknown) =>
        failStream(call, fail(grpc.status.INTERNAL, `download failed: ${(e as Error).message}`)),
      );
    },

    uploadUpdate(call, callback) {
      handleUpload(call, callback, { machine, specs: federatedSpecs, maxBytes: updateBytes, gate, windows: o.uploadWindows, fail, sessionError });
    },

    reportEvaluation(call, callback) {
      const r = call.request;
      const refused = sessionError(r.sessionId);
      if (refused) return callback(refused);
      machine.recordEvaluation(r.sessionId, { modelVersion: r.modelVersion, examples: r.numExamples, loss: r.loss, accuracy: r.accuracy });
      callback(null, {});
    },

    heartbeat(call, callback) {
      callback(sessionError(call.request.sessionId), {});
    },

    leave(call, callback) {
      machine.leave(call.request.sessionId, call.request.reason);
      callback(null, {});
    },
  };
}

const ENCODINGS: Record<EncodingName, Encoding> = {
  float32: Encoding.ENCODING_FLOAT32,
  float16: Encoding.ENCODING_FLOAT16,
  int8: Encoding.ENCODING_INT8,
  topk: Encoding.ENCODING_TOPK,
};

function encodingName(e: Encoding): EncodingName | null {
  const found = Object.entries(ENCODINGS).find(([, v]) => v === e);
  return found ? (found[0] as EncodingName) : null;
}

export function taskToWire(task: Task): WireTask {
  switch (task.kind) {
    case "train":
      return {
        kind: {
          $case: "train",
          value: {
            round: task.round,
            modelVersion: task.modelVersion,
            deadlineUnixMs: task.deadline,
            config: {
              localEpochs: task.training.localEpochs,
              batchSize: task.training.batchSize,
              learningRate: task.training.learningRate,
              optimizer: task.training.optimizer,
              proximalMu: task.training.proximalMu,
              updateEncoding: ENCODINGS[task.training.updateEncoding.encoding],
              seed: task.seed,
              topkFraction: task.training.updateEncoding.topkFraction,
              federate: task.training.federate,
              augmentFlip: task.training.augment.flip,
              augmentCropPadding: task.training.augment.cropPadding,
              extensions: {},
            },
          },
        },
      };
    case "evaluate":
      return { kind: { $case: "evaluate", value: { round: task.round, modelVersion: task.modelVersion, batchSize: 256 } } };
    case "wait":
      return { kind: { $case: "wait", value: { reason: task.reason } } };
    case "finished":
      return { kind: { $case: "finished", value: { reason: task.reason, finalModelVersion: task.finalModelVersion } } };
  }
}
