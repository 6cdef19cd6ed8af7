/**
 * Lossy updates (int8 here) decode into the upload slot's reused space rather than new arrays: three uploads
 * through a gate of two slots, so the third decodes where the first did, and the round's aggregate is exactly
 * the FedAvg of what each client sent. Real gRPC on loopback.
 */
import type * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { decodeEncodedPayload, encodePayload } from "../../../shared/codec/payload.js";
import { Encoding } from "../../../shared/generated/fedfusion/v1/federation.js";
import { elementCount } from "../../../shared/model/weights.js";
import { grpcFederation, uploadHeader } from "../../helpers/grpcFederation.js";
import { aggregationTurns } from "../../helpers/aggregationTurns.js";

const specs = [
  { name: "w/kernel", shape: [400, 500] },
  { name: "w/bias", shape: [500] },
];

describe("lossy uploads", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  it("aggregate exactly what the clients sent when each decodes into memory an earlier upload used", async () => {
    const initial = [new Float32Array(200_000).map((_, i) => Math.cos(i)), new Float32Array(500).fill(0.25)];
    const f = await grpcFederation(specs, initial, { minClients: 3 });
    servers.push(f.server);
    const clients = await Promise.all(["a", "b", "c"].map((name) => f.join(name, [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_INT8])));
    for (const c of clients) expect((await c.conn.getTask(c.joined.sessionId, 1_000)).kind?.$case).toBe("train");
    const sent: Float32Array[][] = [];
    for (const [k, c] of clients.entries()) {
      const delta = specs.map((s, l) => new Float32Array(elementCount(s.shape)).map((_, i) => Math.sin(i * (k + 1) + l) / (k + 2)));
      const payload = encodePayload(specs.map((s, l) => ({ ...s, values: delta[l] })), Encoding.ENCODING_INT8);
      sent.push(decodeEncodedPayload(payload).map((t) => t.values)); // what the coordinator must have folded
      const ack = await c.conn.uploadUpdate(uploadHeader(c.joined.sessionId), payload, 30_000);
      expect(ack).toEqual({ accepted: true, reason: "" });
    }
    await aggregationTurns();
    expect(f.machine.modelVersion).toBe(1);
    // FedAvg of three equal-weight deltas, folded in float64 in arrival order, added to the float32 weights.
    f.machine.globalWeights.forEach((w, l) => {
      for (let i = 0; i < w.length; i += 997) {
        const acc = 10 * sent[0][l][i] + 10 * sent[1][l][i] + 10 * sent[2][l][i];
        expect(w[i]).toBe(Math.fround(initial[l][i] + acc / 30));
      }
    });
    for (const c of clients) c.conn.close();
    f.machine.stop();
  });
});
