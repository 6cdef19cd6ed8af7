import { describe, expect, it } from "vitest";
import { createStrategy, parseStrategyOptions, STRATEGY_NAMES } from "../../../coordinator/strategies/createStrategy.js";
import type { FitResult } from "../../../coordinator/strategies/strategy.js";
import { UserError } from "../../../shared/errors.js";
import { Random } from "../../../shared/random.js";

const OPTIONS: Record<string, Record<string, number>> = { fedprox: { mu: 0.1 }, bulyan: { numMalicious: 1 }, dpfedavg: { clippingNorm: 1, noiseMultiplier: 0.5, seed: 1 } };

describe("createStrategy", () => {
  it("knows every strategy, each with its own name and streaming flag", () => {
    expect(STRATEGY_NAMES).toEqual([
      "fedavg",
      "fedavgm",
      "fedadam",
      "fedyogi",
      "fedadagrad",
      "fedprox",
      "fedmedian",
      "fedtrimmedavg",
      "krum",
      "bulyan",
      "dpfedavg",
    ]);
    const streaming = ["fedavg", "fedavgm", "fedadam", "fedyogi", "fedadagrad", "fedprox", "dpfedavg"];
    for (const name of STRATEGY_NAMES) {
      const s = createStrategy(name, OPTIONS[name]);
      expect(s.name).toBe(name);
      expect(s.streaming).toBe(streaming.includes(name));
    }
  });

  it("accepts names in any case", () => {
    expect(createStrategy(" FedAvgM ").name).toBe("fedavgm");
  });

  it("rejects an unknown name, listing the valid ones", () => {
    expect(() => createStrategy("fedsgd")).toThrow(UserError);
    expect(() => createStrategy("fedsgd")).toThrow(`Unknown strategy "fedsgd"; valid strategies: ${STRATEGY_NAMES.join(", ")}`);
    expect(() => createStrategy("constructor")).toThrow(/Unknown strategy/);
  });

  it("rejects unknown option keys, listing the valid options", () => {
    expect(() => createStrategy("fedadam", { lr: 0.1 })).toThrow(
      'Unknown option "lr" for strategy fedadam; valid options: eta (default 0.1), beta1 (default 0.9), beta2 (default 0.99), tau (default 1e-9)',
    );
    expect(() => createStrategy("fedavg", { eta: 1 })).toThrow('Strategy fedavg takes no options, got "eta"');
    expect(() => createStrategy("fedmedian", { beta: 0.1 })).toThrow(UserError);
  });

  it("rejects non-numeric and out-of-range values, naming the range", () => {
    expect(() => createStrategy("fedadam", { eta: Number.NaN })).toThrow("Option eta of strategy fedadam must be a number > 0, got NaN");
    expect(() => createStrategy("fedadam", { eta: "0.1" as unknown as number })).toThrow('must be a number > 0, got "0.1"');
    expect(() => createStrategy("fedadam", { eta: 0 })).toThrow(/> 0, got 0/);
    expect(() => createStrategy("fedyogi", { beta2: 1 })).toThrow("Option beta2 of strategy fedyogi must be a number in [0, 1), got 1");
    expect(() => createStrategy("fedavgm", { serverMomentum: -0.1 })).toThrow(/serverMomentum .* in \[0, 1\)/);
    expect(() => createStrategy("fedavgm", { serverLearningRate: Infinity })).toThrow(UserError);
    expect(() => createStrategy("bulyan", { numMalicious: -1 })).toThrow("Option numMalicious of strategy bulyan must be an integer ≥ 0, got -1");
    expect(() => createStrategy("fedprox", { mu: -1 })).toThrow(/mu of strategy fedprox must be a number ≥ 0/);
  });

  it("requires fedprox's mu", () => {
    expect(() => createStrategy("fedprox")).toThrow(UserError);
    expect(() => createStrategy("fedprox")).toThrow(/requires option mu .*e\.g\. mu=0\.01/);
    expect(createStrategy("fedprox", { mu: 0 }).proximalMu).toBe(0);
  });

  it("gives every strategy identical numbers through aggregate() and beginRound/add/finish, round after round", async () => {
    const rng = new Random(11);
    const layer = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
    for (const name of STRATEGY_NAMES) {
      const a = createStrategy(name, OPTIONS[name]);
      const b = createStrategy(name, OPTIONS[name]);
      let ca: Float32Array[] = [layer(6, 1), layer(4, 1)];
      let cb: Float32Array[] = ca.map((x) => x.slice());
      for (let round = 0; round < 3; round++) {
        const results: FitResult[] = Array.from({ length: 7 }, () => ({
          weights: ca.map((x) => x.map((v) => v + rng.normal() * 0.1)),
          numExamples: 1 + rng.int(100),
        }));
        ca = await a.aggregate(ca, results);
        const r = b.beginRound(cb);
        for (const result of results) r.add(result);
        cb = r.finish();
        expect(cb, `${name} round ${round + 1}`).toEqual(ca);
      }
    }
  });

  it("refuses an empty round for every strategy", async () => {
    for (const name of STRATEGY_NAMES) {
      await expect(createStrategy(name, OPTIONS[name]).aggregate([new Float32Array(2)], []), name).rejects.toThrow(
        `${name}: cannot aggregate a round with no results`,
      );
    }
  });
});

describe("parseStrategyOptions", () => {
  it("parses key=number pairs", () => {
    expect(parseStrategyOptions(["eta=0.1", "beta1 = 0.95", "tau=1e-9", "numMalicious=2"])).toEqual({
      eta: 0.1,
      beta1: 0.95,
      tau: 1e-9,
      numMalicious: 2,
    });
    expect(parseStrategyOptions(["eta=0.1,beta2=.999"])).toEqual({ eta: 0.1, beta2: 0.999 });
    expect(parseStrategyOptions([])).toEqual({});
    expect(parseStrategyOptions(["mu=-0.5"])).toEqual({ mu: -0.5 });
  });

  it.each(["eta", "eta=", "=0.1", "eta=abc", "eta=0x10", "eta=Infinity", "eta=1=2", "1eta=3", "eta=0.1,"])(
    "rejects %j",
    (pair) => {
      expect(() => parseStrategyOptions([pair])).toThrow(UserError);
      expect(() => parseStrategyOptions([pair])).toThrow(/Bad strategy option .*expected key=number, e\.g\. eta=0\.1/);
    },
  );

  it("rejects a repeated key", () => {
    expect(() => parseStrategyOptions(["eta=0.1", "eta=0.2"])).toThrow("Strategy option eta is given more than once");
  });

  it("leaves the key check to createStrategy", () => {
    expect(() => createStrategy("fedavgm", parseStrategyOptions(["momentum=0.9"]))).toThrow(
      /Unknown option "momentum" for strategy fedavgm; valid options: serverLearningRate \(default 1\), serverMomentum \(default 0\)/,
    );
  });
});
