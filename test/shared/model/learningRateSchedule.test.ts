import { describe, expect, it } from "vitest";
import { parseSchedule, scheduledRate } from "../../../shared/model/learningRateSchedule.js";

describe("learning-rate schedule", () => {
  it("constant keeps the base rate every step", () => {
    const s = parseSchedule("constant", 0.01);
    expect([1, 2, 10].map((t) => scheduledRate(0.01, s, t, 10))).toEqual([0.01, 0.01, 0.01]);
  });

  it("cosine starts at the base rate, halves at mid-way and decays towards the minimum", () => {
    const s = parseSchedule("cosine:0.0001", 0.001);
    expect(scheduledRate(0.001, s, 1, 10)).toBeCloseTo(0.001, 12);
    expect(scheduledRate(0.001, s, 6, 10)).toBeCloseTo(0.0001 + 0.0009 / 2, 12);
    const rates = Array.from({ length: 10 }, (_, i) => scheduledRate(0.001, s, i + 1, 10));
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeLessThan(rates[i - 1]);
    // The last step still learns (the minimum is reached just after it).
    expect(rates[9]).toBeGreaterThan(0.0001);
    expect(rates[9]).toBeCloseTo(0.0001 + 0.0009 * 0.5 * (1 + Math.cos((Math.PI * 9) / 10)), 12);
  });

  it("cosine without a minimum decays towards zero", () => {
    expect(parseSchedule("cosine", 0.1)).toEqual({ kind: "cosine", min: 0 });
  });

  it.each([
    ["linear", /unknown --lr-schedule 'linear'/],
    ["cosine:abc", /cosine:<min> needs 0 ≤ min ≤ --lr/],
    ["cosine:0.5", /cosine:<min> needs 0 ≤ min ≤ --lr \(0.1\), got '0.5'/],
    ["constant:1", /unknown --lr-schedule/],
  ])("rejects %s with a one-line error", (text, message) => {
    expect(() => parseSchedule(text, 0.1)).toThrow(message);
  });
});
