import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { Strategy } from "../../../coordinator/strategies/strategy.js";
import { add, expectClose, fit, flatten, model } from "./helpers.js";

/** Per-coordinate scale: everything in FedAvgM is linear, so coordinate k follows s_k × the scalar trajectory. */
const S = [1, -2, 0.5, 3, -1, 0.25, 4, -0.5, 2, 10];
const E = S.map((_, k) => 0.125 * ((k % 3) + 1));
const scaled = (x: number) => S.map((s) => s * x);

/** One round whose example-weighted mean is exactly `target`: A (1 example) = target + 3e, B (3 examples) = target − e. */
function roundResults(target: number[]) {
  return [fit(add(target, E, 3), 1), fit(add(target, E, -1), 3)];
}

/** Runs rounds with fedavg means s·f_t, starting from s·1; returns the scalar trajectory per coordinate. */
async function run(strategy: Strategy, means: number[]): Promise<Float32Array[][]> {
  let current = model(scaled(1));
  const out: Float32Array[][] = [];
  for (const f of means) {
    current = await strategy.aggregate(current, roundResults(scaled(f)));
    out.push(current);
  }
  return out;
}

describe("fedavgm", () => {
  it("with momentum: m = g on round 1, then m = β·m + g; next = current − lr·m", async () => {
    // lr 0.5, β 0.9, scalar x0 = 1, fedavg 0.6, 0.5, 0.47:
    // r1: g = 0.4, m = 0.4,               x = 1 − 0.2    = 0.8
    // r2: g = 0.3, m = 0.9·0.4 + 0.3 = 0.66,  x = 0.8 − 0.33  = 0.47
    // r3: g = 0,   m = 0.9·0.66 = 0.594,      x = 0.47 − 0.297 = 0.173
    const xs = await run(createStrategy("fedavgm", { serverLearningRate: 0.5, serverMomentum: 0.9 }), [0.6, 0.5, 0.47]);
    expectClose(xs[0], scaled(0.8));
    expectClose(xs[1], scaled(0.47));
    expectClose(xs[2], scaled(0.173));
  });

  it("with lr = 1 and momentum: the momentum alone moves the model", async () => {
    // r1: g = 0.4, m = 0.4, x = 0.6;  r2: g = 0.6 − 0.5 = 0.1, m = 0.36 + 0.1 = 0.46, x = 0.6 − 0.46 = 0.14
    const xs = await run(createStrategy("fedavgm", { serverMomentum: 0.9 }), [0.6, 0.5]);
    expectClose(xs[0], scaled(0.6));
    expectClose(xs[1], scaled(0.14));
  });

  it("without momentum: plain server SGD, no state between rounds", async () => {
    // r1: 1 − 0.5·0.4 = 0.8;  r2: 0.8 − 0.5·0.3 = 0.65;  r3: 0.65 − 0.5·(0.65 − 0.47) = 0.56
    const xs = await run(createStrategy("fedavgm", { serverLearningRate: 0.5 }), [0.6, 0.5, 0.47]);
    expectClose(xs[0], scaled(0.8));
    expectClose(xs[1], scaled(0.65));
    expectClose(xs[2], scaled(0.56));
  });

  it("with the defaults (lr 1, no momentum) is exactly fedavg", async () => {
    const results = roundResults(scaled(0.6));
    const m = await createStrategy("fedavgm").aggregate(model(scaled(1)), results);
    const avg = await createStrategy("fedavg").aggregate(model(scaled(1)), results);
    expect(flatten(m)).toEqual(flatten(avg));
  });

  it("gives the same numbers round by round through beginRound/add/finish", async () => {
    const a = createStrategy("fedavgm", { serverLearningRate: 0.7, serverMomentum: 0.5 });
    const b = createStrategy("fedavgm", { serverLearningRate: 0.7, serverMomentum: 0.5 });
    let ca = model(scaled(1));
    let cb = model(scaled(1));
    for (const f of [0.6, 0.9, 0.3]) {
      ca = await a.aggregate(ca, roundResults(scaled(f)));
      const round = b.beginRound(cb);
      for (const r of roundResults(scaled(f))) round.add(r);
      cb = round.finish();
      expect(flatten(cb)).toEqual(flatten(ca));
    }
  });

  it("refuses a model whose layers changed since the momentum was built", async () => {
    const s = createStrategy("fedavgm", { serverMomentum: 0.9 });
    await s.aggregate(model(scaled(1)), roundResults(scaled(0.5)));
    const other = [new Float32Array(6), new Float32Array(3)];
    await expect(s.aggregate(other, [{ weights: other, numExamples: 1 }])).rejects.toThrow(/momentum state/);
  });
});
