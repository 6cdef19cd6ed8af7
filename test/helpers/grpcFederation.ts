/**
 * A coordinator's Federation service over real gRPC on loopback (FedAvg, one round, no training), serving the
 * given weights, and clients joined to it: for tests of what travels, without processes or models.
 */
import * as grpc from "@grpc/grpc-js";
import { CoordinatorConnection } from "../../client/agent/coordinatorConnection.js";
import { RoundStateMachine } from "../../coordinator/rounds/roundStateMachine.js";
import type { DownloadEncodingName } from "../../coordinator/rounds/types.js";
import { createStrategy } from "../../coordinator/strategies/createStrategy.js";
import type { Strategy } from "../../coordinator/strategies/strategy.js";
import { createFederationService } from "../../coordinator/transport/federationService.js";
import { setReceiveWindow } from "../../coordinator/transport/receiveWindow.js";
import { ChunkedFederationService } from "../../shared/codec/chunkMessages.js";
import { modelSpecToWire } from "../../shared/codec/modelSpecWire.js";
import { Encoding } from "../../shared/generated/fedfusion/v1/federation.js";
import { resolveModelSpec } from "../../shared/model/modelSpec.js";
import { parameterCount } from "../../shared/model/weights.js";

export interface GrpcFederationOptions {
  maxConcurrentDownloads?: number;
  downloadEncoding?: DownloadEncodingName;
  /** Clients that must join before the round starts (default 1). */
  minClients?: number;
  /** Uploads assembled at once (default 2). */
  maxConcurrentUploads?: number;
  /** The coordinator's receive window (setReceiveWindow); grpc-js's 64 KiB when absent. */
  receiveWindowBytes?: number;
  /** FedAvg when absent. */
  strategy?: Strategy;
}

export async function grpcFederation(specs: { name: string; shape: number[] }[], initial: Float32Array[], o: GrpcFederationOptions = {}) {
  const machine = new RoundStateMachine({
    settings: {
      rounds: 1, minClients: o.minClients ?? 1, fraction: 1, minFitClients: 1, roundTimeoutMs: 120_000, seed: 1, maxUpdateNorm: 0,
      training: { localEpochs: 1, batchSize: 8, learningRate: 0.01, learningRateSchedule: { kind: "constant", min: 0 }, optimizer: "sgd", proximalMu: 0, federate: "all", augment: { flip: false, cropPadding: 0 }, updateEncoding: { encoding: "float32", topkFraction: 0 } },
    },
    shapes: specs.map((s) => s.shape),
    initialWeights: initial.map((w) => w.slice()),
    strategy: o.strategy ?? createStrategy("fedavg"),
  });
  const spec = resolveModelSpec("cnn", [28, 28, 1], ["a", "b"]);
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });
  const uploadWindows = o.receiveWindowBytes === undefined ? undefined : (setReceiveWindow(server, o.receiveWindowBytes) ?? undefined);
  server.addService(ChunkedFederationService, createFederationService({
    machine, spec, weightSpecs: specs, federated: specs.map((_, i) => i), fullWeights: () => [...machine.globalWeights], parameterCount: parameterCount(specs),
    federationId: "test", maxPollMs: 1_000, maxConcurrentDownloads: o.maxConcurrentDownloads, downloadEncoding: o.downloadEncoding,
    maxConcurrentUploads: o.maxConcurrentUploads, uploadWindows,
  }));
  const port = await new Promise<number>((r, j) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  /** A client of its own, speaking these encodings (besides float32), connecting to `via` (a proxy's port) or the server. */
  const join = async (siteName: string, supportedEncodings: Encoding[] = [Encoding.ENCODING_FLOAT32], via = port) => {
    const conn = new CoordinatorConnection({ address: `127.0.0.1:${via}` });
    const joined = await conn.join({
      siteName, numExamples: 10, backend: "test", model: modelSpecToWire(spec, 0), clientVersion: "test", supportedEncodings, extensions: {}, instanceId: siteName,
    });
    return { conn, joined };
  };
  return { machine, server, port, join };
}

/** An update's header for round 1 against version 0, as the one-round federation expects. */
export const uploadHeader = (sessionId: string) => ({ sessionId, round: 1, baseModelVersion: 0, numExamples: 10, metrics: undefined, manifest: undefined, extensions: {} });
