import { describe, expect, it } from "vitest";
import { Random } from "../../../shared/random.js";
import { decodeEncodedPayload, encodePayload } from "../../../shared/codec/payload.js";
import { ErrorFeedback } from "../../../shared/codec/errorFeedback.js";
import { Encoding } from "../../../shared/generated/fedfusion/v1/federation.js";

function rng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

const SHAPES = [
  [40, 50],
  [50],
  [7, 3],
];

/** One client round: compensate, encode, decode what the coordinator will see, record. */
function sendRound(ef: ErrorFeedback | null, delta: Float32Array[], encoding: Encoding, topkFraction = 0.01): Float32Array[] {
  const compensated = ef ? ef.compensate(delta) : delta;
  const payload = encodePayload(
    compensated.map((values, i) => ({ name: `w${i}`, shape: SHAPES[i], values })),
    encoding,
    { topkFraction },
  );
  const sent = decodeEncodedPayload(payload).map((t) => t.values);
  ef?.record(sent, compensated);
  return sent;
}

function randomDelta(r: () => number, scale = 0.01): Float32Array[] {
  return SHAPES.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)).map(() => (r() - 0.5) * scale * (r() < 0.1 ? 20 : 1)));
}

describe("error feedback", () => {
  it("with top-k 1%, carries what is dropped: sent + residual = delta summed over rounds, and the residual drains", () => {
    const r = rng(1);
    const ef = new ErrorFeedback(SHAPES);
    const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
    const sumDelta = sizes.map((n) => new Float64Array(n));
    const sumAbs = sizes.map((n) => new Float64Array(n));
    const sumSent = sizes.map((n) => new Float64Array(n));
    const check = () => {
      sizes.forEach((n, i) => {
        for (let j = 0; j < n; j++) {
          const gap = sumDelta[i][j] - sumSent[i][j] - ef.residuals[i][j];
          if (Math.abs(gap) > 1e-6 * sumAbs[i][j] + 1e-12) expect.fail(`tensor ${i}[${j}]: ${gap} of the delta was lost`);
        }
      });
    };
    const rounds = 12;
    for (let t = 0; t < rounds + 110; t++) {
      // some real deltas, then zero deltas until everything left in the residual has been sent
      const delta = t < rounds ? randomDelta(r) : sizes.map((n) => new Float32Array(n));
      const sent = sendRound(ef, delta, Encoding.ENCODING_TOPK, 0.01);
      sizes.forEach((n, i) => {
        let nonzero = 0;
        for (let j = 0; j < n; j++) {
          sumDelta[i][j] += delta[i][j];
          sumAbs[i][j] += Math.abs(delta[i][j]);
          sumSent[i][j] += sent[i][j];
          if (sent[i][j] !== 0) nonzero++;
        }
        expect(nonzero).toBeLessThanOrEqual(Math.ceil(0.01 * n));
      });
      check();
    }
    // drained: nothing left over, everything that was ever in a delta has been sent
    expect(ef.residuals.every((res) => res.every((x) => x === 0))).toBe(true);
    sizes.forEach((n, i) => {
      for (let j = 0; j < n; j++) expect(Math.abs(sumSent[i][j] - sumDelta[i][j])).toBeLessThanOrEqual(1e-6 * sumAbs[i][j] + 1e-12);
    });

    // without error feedback, top-k loses most of the update
    const r2 = rng(1);
    let lost = 0;
    let total = 0;
    const plain = sizes.map((n) => new Float64Array(n));
    const truth = sizes.map((n) => new Float64Array(n));
    for (let t = 0; t < rounds; t++) {
      const delta = randomDelta(r2);
      const sent = sendRound(null, delta, Encoding.ENCODING_TOPK, 0.01);
      sizes.forEach((n, i) => {
        for (let j = 0; j < n; j++) {
          plain[i][j] += sent[i][j];
          truth[i][j] += delta[i][j];
        }
      });
    }
    sizes.forEach((n, i) => {
      for (let j = 0; j < n; j++) {
        lost += Math.abs(truth[i][j] - plain[i][j]);
        total += Math.abs(truth[i][j]);
      }
    });
    expect(lost / total).toBeGreaterThan(0.5);
  });

  it("carries int8 and fp16 rounding errors: the running sum of what was sent tracks the true sum within one step's error", () => {
    for (const enc of [Encoding.ENCODING_INT8, Encoding.ENCODING_FLOAT16]) {
      const r = rng(2);
      const ef = new ErrorFeedback(SHAPES);
      const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
      const gap = sizes.map((n) => new Float64Array(n));
      let worstWithout = 0;
      const gapWithout = sizes.map((n) => new Float64Array(n));
      for (let t = 0; t < 50; t++) {
        const delta = randomDelta(r, 0.001);
        const compensated = ef.compensate(delta);
        const sent = sendRound(null, compensated, enc); // encode the compensated delta
        ef.record(sent, compensated);
        const plainSent = sendRound(null, delta, enc);
        sizes.forEach((n, i) => {
          for (let j = 0; j < n; j++) {
            gap[i][j] += delta[i][j] - sent[i][j];
            gapWithout[i][j] += delta[i][j] - plainSent[i][j];
            // the accumulated gap is exactly the residual (up to float32 rounding of the additions)
            if (Math.abs(gap[i][j] - ef.residuals[i][j]) > 1e-7) expect.fail(`${Encoding[enc]} tensor ${i}[${j}] round ${t}: gap ${gap[i][j]} vs residual ${ef.residuals[i][j]}`);
          }
        });
      }
      let worst = 0;
      sizes.forEach((n, i) => {
        for (let j = 0; j < n; j++) {
          worst = Math.max(worst, Math.abs(gap[i][j]));
          worstWithout = Math.max(worstWithout, Math.abs(gapWithout[i][j]));
        }
      });
      expect(worst).toBeLessThan(worstWithout);
    }
  });

  it("adds the residual without touching the delta, and resets when shapes change", () => {
    const ef = new ErrorFeedback([[2], [1]]);
    const c1 = ef.compensate([new Float32Array([1, 2]), new Float32Array([3])]);
    ef.record([new Float32Array([1, 0]), new Float32Array([0])], c1);
    expect(ef.residuals.map((x) => Array.from(x))).toEqual([[0, 2], [3]]);
    const d = [new Float32Array([0.5, 0.5]), new Float32Array([1])];
    const c2 = ef.compensate(d);
    expect(c2.map((x) => Array.from(x))).toEqual([[0.5, 2.5], [4]]);
    expect(Array.from(d[0])).toEqual([0.5, 0.5]);
    // same sizes, new shapes: reset
    const c3 = ef.compensate(d, [[1, 2], [1]]);
    expect(c3.map((x) => Array.from(x))).toEqual([[0.5, 0.5], [1]]);
    ef.record([new Float32Array([0, 0]), new Float32Array([1])], c3);
    // different sizes: reset
    const c4 = ef.compensate([new Float32Array([1, 1, 1])]);
    expect(c4.map((x) => Array.from(x))).toEqual([[1, 1, 1]]);
    expect(ef.residuals.map((x) => Array.from(x))).toEqual([[0, 0, 0]]);
    expect(() => ef.record([new Float32Array(2)], c4)).toThrow(/differ in count or size/);
  });

  it("does not carry non-finite residuals (an fp16 overflow would otherwise poison every later round)", () => {
    const ef = new ErrorFeedback([[3]]);
    const c = ef.compensate([new Float32Array([70000, 1, NaN])]);
    const sent = sendRoundRaw(c, Encoding.ENCODING_FLOAT16);
    expect(Array.from(sent)).toEqual([Infinity, 1, NaN]);
    ef.record([sent], c);
    expect(Array.from(ef.residuals[0])).toEqual([0, 0, 0]);
  });
});

function sendRoundRaw(c: Float32Array[], encoding: Encoding): Float32Array {
  const p = encodePayload([{ name: "x", shape: [c[0].length], values: c[0] }], encoding);
  return decodeEncodedPayload(p)[0].values;
}
