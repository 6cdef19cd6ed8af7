/**
 * `--download-encoding`: the global model travels rounded (float16, int8) to the clients that decode it, and
 * as float32 to the others; the coordinator keeps its float32 weights and applies the deltas to them, so the
 * rounding never enters the global model. Real gRPC on loopback.
 */
import type * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { decodeEncodedPayload, encodePayload } from "../../../shared/codec/payload.js";
import { Encoding } from "../../../shared/generated/fedfusion/v1/federation.js";
import { elementCount } from "../../../shared/model/weights.js";
import { DownloadBuffers } from "../../../client/agent/downloadBuffers.js";
import { grpcFederation, uploadHeader } from "../../helpers/grpcFederation.js";
import { aggregationTurns } from "../../helpers/aggregationTurns.js";

const specs = [
  { name: "w/kernel", shape: [300, 1000] },
  { name: "w/bias", shape: [1000] },
];
// Values float16 cannot hold exactly.
const initial = () => [new Float32Array(300_000).map((_, i) => Math.sin(i / 3) / 3), new Float32Array(1000).map((_, i) => 0.1 + i / 7000)];
const rounded = (values: Float32Array[], encoding: Encoding) => decodeEncodedPayload(encodePayload(specs.map((s, i) => ({ ...s, values: values[i] })), encoding)).map((t) => t.values);
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const same = (a: Float32Array, b: Float32Array) => bits(a).equals(bits(b));
const SPEAKS_ALL = [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_FLOAT16, Encoding.ENCODING_INT8];

describe("download encodings", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  it.each([
    ["float16", Encoding.ENCODING_FLOAT16, 0.5],
    ["int8", Encoding.ENCODING_INT8, 0.25],
  ] as const)("sends the model as %s to a client that decodes it, float32 to one that does not, and counts the bytes sent", async (name, encoding, share) => {
    const weights = initial();
    const f = await grpcFederation(specs, weights, { downloadEncoding: name, minClients: 2 });
    servers.push(f.server);
    const modern = await f.join("modern", SPEAKS_ALL);
    const legacy = await f.join("legacy");
    for (const c of [modern, legacy]) expect((await c.conn.getTask(c.joined.sessionId, 1_000)).kind?.$case).toBe("train");

    const got = await modern.conn.downloadModel(modern.joined.sessionId, 0, specs, false, 30_000);
    const expected = rounded(weights, encoding);
    got.forEach((t, i) => expect(same(t.values, expected[i])).toBe(true));
    expect(same(got[0].values, weights[0])).toBe(false);
    // Again, decoded into the region a client agent lends (DownloadBuffers), which later downloads reuse.
    const buffers = new DownloadBuffers();
    const lent = await modern.conn.downloadModel(modern.joined.sessionId, 0, specs, false, 30_000, buffers.take, buffers.space);
    lent.forEach((t, i) => expect(same(t.values, expected[i])).toBe(true));
    expect(lent[1].values.buffer).toBe(lent[0].values.buffer);
    expect(lent[0].values.buffer.byteLength).toBe(4 * 301_000);
    const exact = await legacy.conn.downloadModel(legacy.joined.sessionId, 0, specs, false, 30_000);
    exact.forEach((t, i) => expect(same(t.values, weights[i])).toBe(true));

    // The round's bytes down: two rounded copies and one float32 copy (plus framing).
    for (const c of [modern, legacy]) await c.conn.uploadUpdate(uploadHeader(c.joined.sessionId), encodePayload(specs.map((s) => ({ ...s, values: new Float32Array(elementCount(s.shape)) }))), 30_000);
    await aggregationTurns();
    const float32Bytes = 4 * 301_000;
    expect(f.machine.rounds[0].bytesDown).toBeGreaterThan((1 + 2 * share) * float32Bytes);
    expect(f.machine.rounds[0].bytesDown).toBeLessThan((1 + 2 * share) * float32Bytes * 1.01);
    for (const c of [modern, legacy]) c.conn.close();
    f.machine.stop();
  });

  it("applies the clients' deltas to its float32 weights, not to the rounded copy they trained from", async () => {
    const weights = initial();
    const f = await grpcFederation(specs, weights, { downloadEncoding: "float16" });
    servers.push(f.server);
    const { conn, joined } = await f.join("site", SPEAKS_ALL);
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");
    const start = await conn.downloadModel(joined.sessionId, 0, specs, false, 30_000);
    // The client trains from the rounded copy and sends what it changed.
    const trained = start.map((t) => t.values.map((v, i) => v + ((i % 7) - 3) / 256));
    const delta = trained.map((t, l) => t.map((v, i) => v - start[l].values[i]));
    const ack = await conn.uploadUpdate(uploadHeader(joined.sessionId), encodePayload(specs.map((s, i) => ({ ...s, values: delta[i] }))), 30_000);
    expect(ack).toEqual({ accepted: true, reason: "" });
    await aggregationTurns();
    expect(f.machine.modelVersion).toBe(1);
    const [w] = f.machine.globalWeights;
    for (const i of [0, 1, 4, 12_345, 299_999]) expect(w[i]).toBe(Math.fround(weights[0][i] + delta[0][i]));
    // ... which differs from the rounded start plus the delta wherever float16 rounded the weight.
    expect(Array.from(w).some((v, i) => v !== Math.fround(start[0].values[i] + delta[0][i]))).toBe(true);
    conn.close();
    f.machine.stop();
  });
});
