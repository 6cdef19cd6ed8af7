/**
 * Model size is not bounded by a gRPC message: a 64 MiB model (16× gRPC's default message limit) goes down
 * and its update comes back up over real gRPC on loopback, in ≤ 1 MiB chunks, bit for bit (each chunk
 * received into memory that earlier chunks released, shared/codec/pooledReceives.ts). And an update
 * damaged on the way is refused by its CRC-32C before anything uses it; a download that cannot be served is
 * refused with its status at once.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { DownloadBuffers } from "../../../client/agent/downloadBuffers.js";
import { encodePayload } from "../../../shared/codec/payload.js";
import { ChunkedFederationClient } from "../../../shared/codec/chunkMessages.js";
import { spareReceiveBytes } from "../../../shared/codec/pooledReceives.js";
import { grpcFederation, uploadHeader } from "../../helpers/grpcFederation.js";
import { aggregationTurns } from "../../helpers/aggregationTurns.js";

const SIDE = 4096; // 4096² float32 = 64 MiB
const specs = [
  { name: "big/kernel", shape: [SIDE, SIDE] },
  { name: "big/bias", shape: [SIDE] },
];

describe("a model larger than any gRPC message", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  /** A coordinator (FedAvg, one round) serving these weights, and a client joined to it. */
  async function federation(specs: { name: string; shape: number[] }[], initial: Float32Array[], maxConcurrentDownloads?: number) {
    const f = await grpcFederation(specs, initial, { maxConcurrentDownloads });
    servers.push(f.server);
    const { conn, joined } = await f.join("site");
    return { machine: f.machine, conn, joined, port: f.port };
  }

  const header = uploadHeader;

  it("downloads and uploads 64 MiB through 1 MiB chunks", async () => {
    const big = new Float32Array(SIDE * SIDE).map((_, i) => Math.sin(i));
    const bias = new Float32Array(SIDE).fill(0.5);
    const { machine, conn, joined } = await federation(specs, [big, bias]);
    const task = await conn.getTask(joined.sessionId, 1_000);
    expect(task.kind?.$case).toBe("train");

    const down = await conn.downloadModel(joined.sessionId, 0, specs, false, 120_000);
    expect(down.map((t) => t.name)).toEqual(["big/kernel", "big/bias"]);
    expect(Buffer.from(down[0].values.buffer, down[0].values.byteOffset, down[0].values.byteLength).equals(Buffer.from(big.buffer))).toBe(true);
    expect(spareReceiveBytes()).toBeGreaterThan(0); // the 1 MiB chunks arrived in reused memory (shared/codec/pooledReceives.ts)

    // Values that differ from chunk to chunk (each 1 MiB chunk holds 262,144 of them), exact in float32.
    const delta = [new Float32Array(SIDE * SIDE).map((_, i) => ((i % 1000) - 500) / 1024), new Float32Array(SIDE).fill(-0.5)];
    const payload = encodePayload(specs.map((s, i) => ({ ...s, values: delta[i] })));
    const ack = await conn.uploadUpdate(header(joined.sessionId), payload, 120_000);
    conn.close();
    expect(ack).toEqual({ accepted: true, reason: "" });
    await aggregationTurns();
    expect(machine.modelVersion).toBe(1);
    const [w, b] = machine.globalWeights;
    for (const i of [0, 12345, 262_143, 262_144, 262_145, 5 * 262_144 + 7, SIDE * SIDE - 1]) {
      expect(w[i]).toBe(Math.fround(Math.fround(Math.sin(i)) + delta[0][i]));
    }
    expect(Array.from(b.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(machine.rounds[0].bytesUp).toBeGreaterThan(64 << 20);
    expect(machine.rounds[0].bytesDown).toBeGreaterThan(64 << 20);
    machine.stop();
  });

  it("refuses an update whose bytes changed on the way (CRC-32C), folds nothing, and takes the intact one after it", async () => {
    const small = [
      { name: "w/kernel", shape: [600, 1000] },
      { name: "w/bias", shape: [1000] },
    ];
    const initial = [new Float32Array(600_000).fill(1), new Float32Array(1000).fill(2)];
    const { machine, conn, joined } = await federation(small, initial);
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
    await conn.downloadModel(joined.sessionId, 0, small, false, 30_000);
    const delta = [new Float32Array(600_000).fill(0.5), new Float32Array(1000).fill(-1)];
    const payload = encodePayload(small.map((s, i) => ({ ...s, values: delta[i] })));
    // One value changed after the checksum was taken (the parts are views onto the delta).
    delta[0][300_001] = 0.5000001;
    const refused = await conn.uploadUpdate(header(joined.sessionId), payload, 30_000);
    expect(refused.accepted).toBe(false);
    expect(refused.reason).toMatch(/^payload: payload CRC-32C does not match its manifest/);
    expect(machine.modelVersion).toBe(0);
    expect(machine.globalWeights[0][300_001]).toBe(1);

    delta[0][300_001] = 0.5;
    const accepted = await conn.uploadUpdate(header(joined.sessionId), payload, 30_000);
    conn.close();
    expect(accepted).toEqual({ accepted: true, reason: "" });
    await aggregationTurns();
    expect(machine.modelVersion).toBe(1);
    expect(machine.globalWeights[0][300_001]).toBe(1.5);
    expect(machine.globalWeights[1][0]).toBe(1);
    machine.stop();
  });

  it("serves concurrent downloads through one slot in turn, each bit for bit", async () => {
    const small = [
      { name: "w/kernel", shape: [700, 1000] },
      { name: "w/bias", shape: [1000] },
    ];
    const initial = [new Float32Array(700_000).map((_, i) => Math.sin(i / 7)), new Float32Array(1000).fill(3)];
    const { machine, conn, joined } = await federation(small, initial, 1);
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
    const all = await Promise.all(Array.from({ length: 4 }, () => conn.downloadModel(joined.sessionId, 0, small, false, 30_000)));
    conn.close();
    machine.stop();
    for (const down of all) {
      down.forEach((t, i) => expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(Buffer.from(initial[i].buffer))).toBe(true));
    }
    expect(machine.rounds).toEqual([]);
  });

  it("frees a download's slot when its client cancels it midway: the next download still runs", async () => {
    const small = [
      { name: "w/kernel", shape: [2000, 1000] },
      { name: "w/bias", shape: [1000] },
    ];
    const initial = [new Float32Array(2_000_000).map((_, i) => i % 97), new Float32Array(1000).fill(1)];
    const { machine, conn, joined, port } = await federation(small, initial, 1);
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
    // A client of its own (grpc-js's 64 KiB receive window: the coordinator cannot send far ahead) that
    // cancels after the first message, while the download holds the only slot.
    const raw = new ChunkedFederationClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    await new Promise<void>((resolve) => {
      const call = raw.downloadModel({ sessionId: joined.sessionId, modelVersion: 0, federatedOnly: false });
      call.once("data", () => call.cancel());
      call.on("error", () => resolve());
      call.on("end", () => resolve());
    });
    raw.close();
    const down = await conn.downloadModel(joined.sessionId, 0, small, false, 15_000);
    conn.close();
    machine.stop();
    down.forEach((t, i) => expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(Buffer.from(initial[i].buffer))).toBe(true));
  });

  it("refuses a download for an unknown session, or for a version that is not current, with that status", async () => {
    const small = [{ name: "w/bias", shape: [10] }];
    const { machine, conn, joined } = await federation(small, [new Float32Array(10)]);
    const code = (download: Promise<unknown>) => download.then(() => "downloaded", (e: grpc.ServiceError) => grpc.status[e.code]);
    // A deadline the client would otherwise wait out: a refusal must come as the refusal's own status.
    expect(await code(conn.downloadModel("no-such-session", 0, small, false, 5_000))).toBe("NOT_FOUND");
    expect(await code(conn.downloadModel(joined.sessionId, 7, small, false, 5_000))).toBe("FAILED_PRECONDITION");
    expect(await code(conn.downloadModel(joined.sessionId, 0, small, false, 5_000))).toBe("downloaded");
    conn.close();
    machine.stop();
  });

  it("assembles downloads in the previous version's buffer once it is retired (two buffers alternate), bit for bit", async () => {
    const small = [
      { name: "w/kernel", shape: [300, 1000] },
      { name: "w/bias", shape: [1000] },
    ];
    const initial = [new Float32Array(300_000).map((_, i) => Math.cos(i)), new Float32Array(1000).fill(2)];
    const { machine, conn, joined } = await federation(small, initial);
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
    const buffers = new DownloadBuffers();
    const first = await conn.downloadModel(joined.sessionId, 0, small, false, 30_000, buffers.take);
    const second = await conn.downloadModel(joined.sessionId, 0, small, false, 30_000, buffers.take);
    expect(second[0].values.buffer).not.toBe(first[0].values.buffer); // nothing retired yet: a new buffer
    buffers.retire(first.map((t) => t.values), second.map((t) => t.values));
    first[0].values.fill(NaN); // whatever the old version's buffer held is overwritten
    const third = await conn.downloadModel(joined.sessionId, 0, small, false, 30_000, buffers.take);
    conn.close();
    machine.stop();
    expect(third[0].values.buffer).toBe(first[0].values.buffer);
    third.forEach((t, i) => expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(Buffer.from(initial[i].buffer))).toBe(true));
  });
});
