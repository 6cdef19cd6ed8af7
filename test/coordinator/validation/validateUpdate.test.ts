import { describe, expect, it } from "vitest";
import { validateUpdate } from "../../../coordinator/validation/validateUpdate.js";

const expected = { shapes: [[2, 3], [4], []] };
/** Values 3, 4 in layer 0 and 12 in layer 1: norm √(9 + 16 + 144) = 13. */
const good = () => [Float32Array.of(3, 0, 0, 0, 0, 4), Float32Array.of(0, 12, 0, 0), Float32Array.of(0)];

describe("validateUpdate", () => {
  it("accepts a well-formed update and reports its global L2 norm", () => {
    expect(validateUpdate(good(), expected, {})).toEqual({ ok: true, norm: 13 });
    expect(validateUpdate(good(), expected, { maxNorm: 13 })).toEqual({ ok: true, norm: 13 });
    expect(validateUpdate(good(), expected)).toEqual({ ok: true, norm: 13 });
  });

  it("computes the norm over long layers", () => {
    const long = [new Float32Array(1001).fill(0.5)];
    const result = validateUpdate(long, { shapes: [[7, 11, 13]] }, {});
    expect(result.ok && result.norm).toBeCloseTo(Math.sqrt(1001 * 0.25), 10);
  });

  it("rejects a wrong layer count", () => {
    expect(validateUpdate(good().slice(0, 2), expected, {})).toEqual({
      ok: false,
      reason: "layer-count",
      detail: "update has 2 layers, expected 3",
    });
  });

  it("rejects a layer of the wrong size", () => {
    const update = good();
    update[1] = new Float32Array(5);
    expect(validateUpdate(update, expected, {})).toEqual({
      ok: false,
      reason: "shape",
      detail: "layer 1 has 5 values, expected 4 (shape [4])",
    });
    expect(validateUpdate([new Float32Array(1200)], { shapes: [[3, 3, 128]] }, {})).toMatchObject({
      reason: "shape",
      detail: "layer 0 has 1200 values, expected 1152 (shape [3, 3, 128])",
    });
  });

  it.each([
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
  ])("rejects a %s value, saying where it is", (value, text) => {
    const update = good();
    update[1][2] = value;
    expect(validateUpdate(update, expected, { maxNorm: 1e30 })).toEqual({
      ok: false,
      reason: "non-finite",
      detail: `layer 1 value 2 is ${text}`,
    });
  });

  it("takes a large but finite update as finite", () => {
    const update = [Float32Array.of(3.4e38, -3.4e38), Float32Array.of(0, 0, 0, 0)];
    const result = validateUpdate(update, { shapes: [[2], [4]] }, {});
    expect(result.ok).toBe(true);
    const norm = (result as { norm: number }).norm;
    expect(norm / (Math.SQRT2 * Math.fround(3.4e38))).toBeCloseTo(1, 12);
  });

  it("rejects an update whose norm exceeds maxNorm", () => {
    expect(validateUpdate(good(), expected, { maxNorm: 10 })).toEqual({
      ok: false,
      reason: "norm",
      detail: "update L2 norm 13 exceeds the limit 10",
    });
    const detail = (validateUpdate(good(), expected, { maxNorm: 12.99999 }) as { detail: string }).detail;
    expect(detail).toBe("update L2 norm 13 exceeds the limit 12.99999");
    const close = [Float32Array.of(10.000001)];
    expect(validateUpdate(close, { shapes: [[1]] }, { maxNorm: 10 })).toMatchObject({
      reason: "norm",
      detail: `update L2 norm ${Math.fround(10.000001)} exceeds the limit 10`,
    });
  });

  it("checks the layout before the values", () => {
    const update = good();
    update[0][0] = Number.NaN;
    update[2] = new Float32Array(2);
    expect(validateUpdate(update, expected, {})).toMatchObject({ reason: "shape" });
  });

  it("refuses a meaningless limit", () => {
    expect(() => validateUpdate(good(), expected, { maxNorm: -1 })).toThrow(RangeError);
    expect(() => validateUpdate(good(), expected, { maxNorm: Number.NaN })).toThrow(/maxNorm/);
  });
});
