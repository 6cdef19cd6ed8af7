import { describe, expect, it } from "vitest";
import { createStrategy } from "../../../coordinator/strategies/createStrategy.js";
import type { FitResult } from "../../../coordinator/strategies/strategy.js";
import { Random } from "../../../shared/random.js";
import { flatten } from "./helpers.js";

const rng = new Random(11);
const layer = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
const current = [layer(200, 1), layer(30, 5)];
const deltas = Array.from({ length: 7 }, (_, i) => ({ delta: [layer(200, 0.1), layer(30, 0.5)], numExamples: 10 + 17 * i }));
const asWeights = (d: (typeof deltas)[number]): FitResult => ({ weights: d.delta.map((x, l) => x.map((v, j) => v + current[l][j])), numExamples: d.numExamples });
const copyDelta = (d: (typeof deltas)[number]) => ({ delta: d.delta.map((x) => x.slice()), numExamples: d.numExamples });

describe("results given as deltas (what clients upload)", () => {
  for (const name of ["fedavg", "fedavgm", "fedadam", "fedmedian", "fedtrimmedavg", "krum"]) {
    it(`${name}: addDelta gives what add gives with the full weights`, () => {
      const byWeights = createStrategy(name).beginRound(current);
      for (const d of deltas) byWeights.add(asWeights(d));
      const byDeltas = createStrategy(name).beginRound(current);
      for (const d of deltas) byDeltas.addDelta(copyDelta(d));
      expect(byDeltas.count).toBe(deltas.length);
      const a = flatten(byWeights.finish());
      const b = flatten(byDeltas.finish());
      // Identical up to float32 rounding of the full weights the add() path is given.
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(a[i])));
    });
  }

  it("fedavg: rounds that reuse the pooled accumulators carry nothing over", () => {
    const s = createStrategy("fedavg");
    const first = s.beginRound(current);
    for (const d of deltas) first.addDelta(copyDelta(d));
    first.finish();
    // Round 2 with one client: the mean is exactly current + its delta.
    const second = s.beginRound(current);
    second.addDelta(copyDelta(deltas[3]));
    const want = flatten(asWeights(deltas[3]).weights);
    expect(flatten(second.finish())).toEqual(want);
  });

  it("fedavg: a delta of zeros gives back the current weights exactly", () => {
    const round = createStrategy("fedavg").beginRound(current);
    round.addDelta({ delta: current.map((l) => new Float32Array(l.length)), numExamples: 5 });
    round.addDelta({ delta: current.map((l) => new Float32Array(l.length)), numExamples: 9 });
    expect(flatten(round.finish())).toEqual(flatten(current));
  });
});

describe("finishing in place (the round state machine owns its global weights)", () => {
  it("fedavg writes the mean over current: same numbers as finish(), no new arrays", () => {
    const fresh = createStrategy("fedavg").beginRound(current);
    for (const d of deltas) fresh.addDelta(copyDelta(d));
    const want = flatten(fresh.finish());
    const mine = current.map((l) => l.slice());
    const round = createStrategy("fedavg").beginRound(mine);
    for (const d of deltas) round.addDelta(copyDelta(d));
    const got = round.finishInPlace();
    expect(got[0]).toBe(mine[0]);
    expect(flatten(got)).toEqual(want);
  });

  it("a server optimizer (fedavgm with momentum, fedadam) needs current intact: fresh arrays, current untouched", () => {
    for (const [name, opts] of [["fedavgm", { serverMomentum: 0.9 }], ["fedadam", {}]] as const) {
      const mine = current.map((l) => l.slice());
      const round = createStrategy(name, opts).beginRound(mine);
      for (const d of deltas) round.addDelta(copyDelta(d));
      const got = round.finishInPlace();
      expect(got[0], name).not.toBe(mine[0]);
      expect(flatten(mine), name).toEqual(flatten(current));
    }
  });
});
