/**
 * The upload that completes a round is answered before the round is aggregated: its client does not wait
 * for the mean (nor for a strategy's slower work). The client uploads from a worker thread, an event loop of
 * its own; the aggregation blocks the coordinator's thread, as a large model's mean does, until that client
 * has its answer (or 5 s have passed). Were the answer sent after the aggregation, the wait would time out.
 */
import { once } from "node:events";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type * as grpc from "@grpc/grpc-js";
import { afterAll, describe, expect, it, vi } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { Strategy } from "../../../coordinator/strategies/strategy.js";
import { ROOT } from "../../helpers/cli.js";
import { grpcFederation, uploadHeader } from "../../helpers/grpcFederation.js";

const specs = [{ name: "w/kernel", shape: [1000, 100] }];

/** Uploads workerData.delta as workerData.header's session; sets answered[0] and posts the answer. */
const UPLOADER = `
const { workerData: d, parentPort } = require("node:worker_threads");
(async () => {
  const { CoordinatorConnection } = await import(d.dist + "/client/agent/coordinatorConnection.js");
  const { encodePayload } = await import(d.dist + "/shared/codec/payload.js");
  const conn = new CoordinatorConnection({ address: d.address });
  const ack = await conn.uploadUpdate(d.header, encodePayload([{ ...d.spec, values: d.delta }]), 30000);
  Atomics.store(d.answered, 0, 1);
  Atomics.notify(d.answered, 0);
  parentPort.postMessage(ack);
  conn.close();
})().catch((e) => parentPort.postMessage({ error: e.message }));
`;

/** FedAvg whose rounds, when finished, first wait for `answered[0]`; `log` says whether it came in time. */
function waitingFedAvg(answered: Int32Array, log: boolean[]): Strategy {
  const fedavg = createStrategy("fedavg");
  return {
    name: fedavg.name,
    streaming: fedavg.streaming,
    aggregate: (current, results) => fedavg.aggregate(current, results),
    beginRound(current) {
      const round = fedavg.beginRound(current);
      return {
        add: (r) => round.add(r),
        addDelta: (r) => round.addDelta(r),
        get count() {
          return round.count;
        },
        finish: () => round.finish(),
        finishInPlace() {
          log.push(Atomics.wait(answered, 0, 0, 5_000) !== "timed-out");
          return round.finishInPlace();
        },
      };
    },
  };
}

describe("the upload that completes a round", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  it("is answered before the round is aggregated", async () => {
    const answered = new Int32Array(new SharedArrayBuffer(4));
    const answeredInTime: boolean[] = [];
    const f = await grpcFederation(specs, [new Float32Array(100_000)], { strategy: waitingFedAvg(answered, answeredInTime) });
    servers.push(f.server);
    const { conn, joined } = await f.join("a");
    expect((await conn.getTask(joined.sessionId, 1_000)).kind?.$case).toBe("train");

    const delta = new Float32Array(100_000).fill(0.5);
    const uploader = new Worker(UPLOADER, {
      eval: true,
      workerData: { dist: path.join(ROOT, "dist"), address: `127.0.0.1:${f.port}`, header: uploadHeader(joined.sessionId), spec: specs[0], delta, answered },
    });
    const [ack] = await once(uploader, "message");
    expect(ack).toEqual({ accepted: true, reason: "" });
    await vi.waitFor(() => expect(f.machine.modelVersion).toBe(1));
    expect(answeredInTime).toEqual([true]);
    expect(f.machine.globalWeights[0][0]).toBe(0.5);
    await uploader.terminate();
    conn.close();
    f.machine.stop();
  });
});
