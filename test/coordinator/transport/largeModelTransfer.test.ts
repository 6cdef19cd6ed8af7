/**
 * Model size is not bounded by a gRPC message: a 64 MiB model (16× gRPC's default message limit) goes down
 * and its update comes back up over real gRPC on loopback, in ≤ 1 MiB chunks, bit for bit.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { CoordinatorConnection } from "../../../client/agent/coordinatorConnection.js";
import { RoundStateMachine } from "../../../coordinator/rounds/roundStateMachine.js";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import { createFederationService } from "../../../coordinator/transport/federationService.js";
import { encodePayload } from "../../../shared/codec/payload.js";
import { modelSpecToWire } from "../../../shared/codec/modelSpecWire.js";
import { ChunkedFederationService } from "../../../shared/codec/chunkMessages.js";
import { Encoding } from "../../../shared/generated/fedfusion/v1/federation.js";
import { resolveModelSpec } from "../../../shared/model/modelSpec.js";

const SIDE = 4096; // 4096² float32 = 64 MiB
const specs = [
  { name: "big/kernel", shape: [SIDE, SIDE] },
  { name: "big/bias", shape: [SIDE] },
];

describe("a model larger than any gRPC message", () => {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 << 20 });
  afterAll(() => server.forceShutdown());

  it("downloads and uploads 64 MiB through 1 MiB chunks", async () => {
    const big = new Float32Array(SIDE * SIDE).map((_, i) => Math.sin(i));
    const bias = new Float32Array(SIDE).fill(0.5);
    const machine = new RoundStateMachine({
      settings: {
        rounds: 1, minClients: 1, fraction: 1, minFitClients: 1, roundTimeoutMs: 120_000, seed: 1, maxUpdateNorm: 0,
        training: { localEpochs: 1, batchSize: 8, learningRate: 0.01, learningRateSchedule: { kind: "constant", min: 0 }, optimizer: "sgd", proximalMu: 0, federate: "all", augment: { flip: false, cropPadding: 0 }, updateEncoding: { encoding: "float32", topkFraction: 0 } },
      },
      shapes: specs.map((s) => s.shape),
      initialWeights: [big.slice(), bias.slice()],
      strategy: createStrategy("fedavg"),
    });
    const spec = resolveModelSpec("cnn", [28, 28, 1], ["a", "b"]);
    server.addService(ChunkedFederationService, createFederationService({
      machine, spec, weightSpecs: specs, federated: [0, 1], fullWeights: () => [...machine.globalWeights], parameterCount: SIDE * SIDE + SIDE,
      federationId: "test", maxPollMs: 1_000,
    }));
    const port = await new Promise<number>((r, j) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));

    const conn = new CoordinatorConnection({ address: `127.0.0.1:${port}` });
    const joined = await conn.join({
      siteName: "site", numExamples: 10, backend: "test", model: modelSpecToWire(spec, 0), clientVersion: "test",
      supportedEncodings: [Encoding.ENCODING_FLOAT32], extensions: {},
    });
    const task = await conn.getTask(joined.sessionId, 1_000);
    expect(task.kind?.$case).toBe("train");

    const down = await conn.downloadModel(joined.sessionId, 0, specs, false, 120_000);
    expect(down.map((t) => t.name)).toEqual(["big/kernel", "big/bias"]);
    expect(Buffer.from(down[0].values.buffer, down[0].values.byteOffset, down[0].values.byteLength).equals(Buffer.from(big.buffer))).toBe(true);

    const delta = [new Float32Array(SIDE * SIDE).fill(0.25), new Float32Array(SIDE).fill(-0.5)];
    const payload = encodePayload(specs.map((s, i) => ({ ...s, values: delta[i] })));
    const ack = await conn.uploadUpdate(
      { sessionId: joined.sessionId, round: 1, baseModelVersion: 0, numExamples: 10, metrics: undefined, manifest: undefined, extensions: {} },
      payload,
      120_000,
    );
    conn.close();
    expect(ack).toEqual({ accepted: true, reason: "" });
    await new Promise((r) => setImmediate(r));
    expect(machine.modelVersion).toBe(1);
    const [w, b] = machine.globalWeights;
    expect(w[12345]).toBe(Math.fround(Math.fround(Math.sin(12345)) + 0.25));
    expect(Array.from(b.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(machine.rounds[0].bytesUp).toBeGreaterThan(64 << 20);
    expect(machine.rounds[0].bytesDown).toBeGreaterThan(64 << 20);
    machine.stop();
  });
});
