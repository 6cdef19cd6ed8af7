import { describe, expect, it } from "vitest";
import { Random } from "../../../shared/random.js";
import { loadNativeAddon } from "../../../shared/backends/native/nativeAddon.js";
import {
  decodeKernel,
  decodeTensor,
  encodeTensor,
  EncodingError,
  floatToHalf,
  halfToFloat,
  int8Params,
  jsGather32,
  topkCount,
  validateTensorSpec,
} from "../../../shared/codec/encodings.js";
import { Encoding, type TensorSpec } from "../../../shared/generated/fedfusion/v1/federation.js";

function rng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

function spec(name: string, shape: number[], encoding: Encoding, e: { bytes: Uint8Array; scale: number; zeroPoint: number; nonzero: number }): TensorSpec {
  return { name, shape, encoding, byteLength: e.bytes.byteLength, scale: e.scale, zeroPoint: e.zeroPoint, nonzero: e.nonzero };
}

function roundTrip(values: Float32Array, encoding: Encoding, topkFraction?: number): { out: Float32Array; enc: ReturnType<typeof encodeTensor> } {
  const enc = encodeTensor(values, encoding, { topkFraction });
  const out = decodeTensor(spec("t", [values.length], encoding, enc), enc.bytes);
  return { out, enc };
}

const f32bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];
const halfBits = (v: number) => new Uint16Array(encodeTensor(new Float32Array([v]), Encoding.ENCODING_FLOAT16).bytes.buffer)[0];

/** Every finite half value ascending (positive, including 0), as numbers. */
function finiteHalves(): number[] {
  const out: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    const e = h >>> 10;
    const m = h & 0x3ff;
    out.push(e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
  }
  return out;
}

/** Reference float → half bits: nearest half by binary search over all halves, ties to the even mantissa. */
function referenceHalf(v: number, halves: number[]): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = halves.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (halves[mid] <= a) lo = mid;
    else hi = mid;
  }
  let h: number;
  if (halves[lo] === a) h = lo;
  else {
    const dl = a - halves[lo];
    const dh = halves[hi] - a;
    h = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
  }
  return sign | h;
}

describe("FLOAT32 encoding", () => {
  it("is the raw bytes, a view without copy, decoded as a view when aligned", () => {
    const v = new Float32Array([1, -2.5, NaN, Infinity, -0, 1e-40]);
    const enc = encodeTensor(v, Encoding.ENCODING_FLOAT32);
    expect(enc.bytes.buffer).toBe(v.buffer);
    expect(enc.bytes.byteLength).toBe(24);
    expect(enc).toMatchObject({ scale: 0, zeroPoint: 0, nonzero: 0 });
    const out = decodeTensor(spec("w", [2, 3], Encoding.ENCODING_FLOAT32, enc), enc.bytes);
    expect(out.buffer).toBe(v.buffer);
    expect(Array.from(out)).toEqual(Array.from(v));
  });

  it("decodes from an unaligned offset by copying", () => {
    const v = new Float32Array([3.25, -7, 1e30]);
    const raw = new Uint8Array(13);
    raw.set(new Uint8Array(v.buffer), 1);
    const out = decodeTensor({ name: "b", shape: [3], encoding: Encoding.ENCODING_FLOAT32, byteLength: 12, scale: 0, zeroPoint: 0, nonzero: 0 }, raw.subarray(1));
    expect(Array.from(out)).toEqual([3.25, -7, Math.fround(1e30)]);
  });
});

describe("FLOAT16 encoding", () => {
  it("encodes known values exactly", () => {
    expect(halfBits(0)).toBe(0x0000);
    expect(halfBits(-0)).toBe(0x8000);
    expect(halfBits(1)).toBe(0x3c00);
    expect(halfBits(-2)).toBe(0xc000);
    expect(halfBits(0.1)).toBe(0x2e66);
    expect(halfBits(65504)).toBe(0x7bff);
    expect(halfBits(65519)).toBe(0x7bff); // just below the midpoint to 65536
    expect(halfBits(65520)).toBe(0x7c00); // the midpoint rounds (to even) into Inf
    expect(halfBits(-65520)).toBe(0xfc00);
    expect(halfBits(1e10)).toBe(0x7c00);
    expect(halfBits(Infinity)).toBe(0x7c00);
    expect(halfBits(-Infinity)).toBe(0xfc00);
    expect(halfBits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(halfBits(6e-8)).toBe(0x0001); // smallest subnormal 2^-24 ≈ 5.96e-8
    expect(halfBits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24: even is 0
    expect(halfBits(Math.fround(2 ** -25 * (1 + 2 ** -23)))).toBe(0x0001);
    expect(halfBits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units: even is 2
    expect(halfBits(1 + 2 ** -11)).toBe(0x3c00); // tie, mantissa 0 is even
    expect(halfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, mantissa 2 is even
    expect(halfBits(1e-45)).toBe(0x0000); // float32 subnormal underflows
    expect(halfBits(-1e-10)).toBe(0x8000);
    const nan = halfBits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it("decodes known values exactly", () => {
    const { out } = roundTrip(new Float32Array([0, -0, 1, 65504, 65520, -65520, 6e-8, NaN, Infinity, 2 ** -14, 1e-5]), Encoding.ENCODING_FLOAT16);
    expect(Object.is(out[0], 0)).toBe(true);
    expect(Object.is(out[1], -0)).toBe(true);
    expect(out[2]).toBe(1);
    expect(out[3]).toBe(65504);
    expect(out[4]).toBe(Infinity);
    expect(out[5]).toBe(-Infinity);
    expect(out[6]).toBe(2 ** -24);
    expect(out[7]).toBeNaN();
    expect(out[8]).toBe(Infinity);
    expect(out[9]).toBe(2 ** -14);
    expect(out[10]).toBe(168 * 2 ** -24); // 1e-5 / 2^-24 = 167.77 → 168
  });

  it("round-trips every half value bit for bit", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = new Uint32Array(65536);
    halfToFloat(all, f);
    const back = new Uint16Array(65536);
    floatToHalf(f, back);
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) {
        expect((back[h] & 0x7c00) === 0x7c00 && (back[h] & 0x3ff) !== 0).toBe(true);
        expect(new Float32Array(f.buffer)[h]).toBeNaN();
      } else if (back[h] !== h) {
        expect.fail(`half 0x${h.toString(16)} came back as 0x${back[h].toString(16)}`);
      }
    }
  });

  it("rounds to nearest even like a reference, over random float32 bit patterns in every range", () => {
    const halves = finiteHalves();
    const r = rng(7);
    const n = 200_000;
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      // exponents around the half range (subnormal, normal, overflow) plus fully random patterns
      const e = i % 4 === 0 ? Math.floor(r() * 256) : 95 + Math.floor(r() * 50);
      bits[i] = ((r() < 0.5 ? 0x80000000 : 0) | (e << 23) | Math.floor(r() * 0x800000)) >>> 0;
    }
    const vals = new Float32Array(bits.buffer);
    const got = new Uint16Array(encodeTensor(vals, Encoding.ENCODING_FLOAT16).bytes.buffer);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const want = referenceHalf(vals[i], halves);
      const ok = Number.isNaN(vals[i]) ? (got[i] & 0x7fff) > 0x7c00 : got[i] === want;
      if (!ok && bad++ < 5) expect.fail(`${vals[i]} (0x${bits[i].toString(16)}) → 0x${got[i].toString(16)}, expected 0x${want.toString(16)}`);
    }
    expect(bad).toBe(0);
  });

  it("keeps the relative error within 2^-11 over the normal range", () => {
    const r = rng(3);
    const n = 100_000;
    const v = new Float32Array(n).map(() => (r() < 0.5 ? -1 : 1) * 2 ** (-14 + r() * 29.99));
    const { out } = roundTrip(v, Encoding.ENCODING_FLOAT16);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i] - v[i]) / Math.abs(v[i]));
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -12); // the bound is tight, the test is not vacuous
  });

  it("decodes from an odd offset", () => {
    const v = new Float32Array([1.5, -3, 0.25]);
    const enc = encodeTensor(v, Encoding.ENCODING_FLOAT16);
    const raw = new Uint8Array(7);
    raw.set(enc.bytes, 1);
    expect(Array.from(decodeTensor(spec("h", [3], Encoding.ENCODING_FLOAT16, enc), raw.subarray(1)))).toEqual([1.5, -3, 0.25]);
  });
});

describe("INT8 encoding", () => {
  function checkError(v: Float32Array) {
    const { out, enc } = roundTrip(v, Encoding.ENCODING_INT8);
    expect(Number.isFinite(enc.scale) && enc.scale > 0).toBe(true);
    expect(enc.scale).toBe(Math.fround(enc.scale)); // travels as a proto float
    expect(enc.zeroPoint).toBe(Math.fround(enc.zeroPoint));
    // scale/2 from the rounding of q, plus the float32 rounding of the decoded value
    let worst = 0;
    for (let i = 0; i < v.length; i++) {
      const err = Math.abs(out[i] - v[i]);
      if (err > (enc.scale / 2) * (1 + 1e-6) + Math.abs(v[i]) * 2 ** -23) expect.fail(`element ${i}: ${v[i]} decoded as ${out[i]}, scale ${enc.scale}`);
      worst = Math.max(worst, err);
    }
    return { out, enc, worst };
  }

  it("keeps the error within scale/2 with scale = (max − min)/255, using the full byte range", () => {
    const r = rng(11);
    const v = new Float32Array(100_000).map(() => (r() - 0.3) * 0.02);
    const { enc, worst } = checkError(v);
    let min = Infinity;
    let max = -Infinity;
    for (const x of v) {
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    expect(enc.scale).toBe(Math.fround((max - min) / 255));
    expect(worst).toBeGreaterThan(enc.scale / 4);
    const q = new Int8Array(enc.bytes.buffer);
    expect(Math.min(...q)).toBe(-128);
    expect(Math.max(...q)).toBe(127);
  });

  it("keeps 0 exact in a tensor that contains it (integer zero point)", () => {
    const r = rng(12);
    const v = new Float32Array(10_000).map((_, i) => (i % 7 === 0 ? 0 : (r() - 0.4) * 3));
    v[1] = -0;
    const { out, enc } = checkError(v);
    expect(Number.isInteger(enc.zeroPoint)).toBe(true);
    for (let i = 0; i < v.length; i += 7) expect(out[i]).toBe(0);
    expect(out[1]).toBe(0);
  });

  it("represents min and max of a one-signed tensor (fractional zero point)", () => {
    const v = new Float32Array([10.1, 10.5, 11, 10.25, 10.999]);
    const { out, enc } = checkError(v);
    expect(enc.zeroPoint).not.toBe(Math.round(enc.zeroPoint));
    expect(out[0]).toBeCloseTo(10.1, 5);
    expect(out[2]).toBeCloseTo(11, 5);
    const q = new Int8Array(enc.bytes.buffer);
    expect([q[0], q[2]]).toEqual([-128, 127]);
    const neg = checkError(new Float32Array([-5, -4, -3.5]));
    expect(neg.out[0]).toBeCloseTo(-5, 5);
    expect(neg.out[2]).toBeCloseTo(-3.5, 5);
  });

  it("round-trips constant tensors exactly", () => {
    for (const c of [0, -0, 3.7, -2.5e-3, 1e30, -1e-40, 65536.125]) {
      const v = new Float32Array(50).fill(c);
      const { out } = roundTrip(v, Encoding.ENCODING_INT8);
      expect(Array.from(out)).toEqual(Array.from(new Float32Array(50).fill(c === 0 ? 0 : c)));
    }
    const one = roundTrip(new Float32Array([Math.fround(0.3)]), Encoding.ENCODING_INT8).out;
    expect(one[0]).toBe(Math.fround(0.3));
  });

  it("states its parameter formula", () => {
    expect(int8Params(-1, 1.55)).toEqual({ scale: Math.fround(2.55 / 255), zeroPoint: Math.round(-128 + 1 / Math.fround(2.55 / 255)) });
    expect(int8Params(2, 2)).toEqual({ scale: 2, zeroPoint: -1 });
    expect(int8Params(-2, -2)).toEqual({ scale: 2, zeroPoint: 1 });
    expect(int8Params(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it("refuses non-finite values and handles an empty tensor", () => {
    expect(() => encodeTensor(new Float32Array([1, NaN]), Encoding.ENCODING_INT8, { name: "dense/bias" })).toThrow(/tensor dense\/bias: int8 .*element 1 is NaN/);
    expect(() => encodeTensor(new Float32Array([Infinity]), Encoding.ENCODING_INT8)).toThrow(EncodingError);
    const { out, enc } = roundTrip(new Float32Array(0), Encoding.ENCODING_INT8);
    expect(out.length).toBe(0);
    expect(enc.bytes.byteLength).toBe(0);
  });
});

describe("TOPK encoding", () => {
  /** Reference: sort by magnitude descending, lower index first on ties; take k; ascending. */
  function referenceTopk(v: Float32Array, k: number): number[] {
    const idx = Array.from(v, (_, i) => i);
    idx.sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]) || a - b);
    return idx.slice(0, k).sort((a, b) => a - b);
  }

  function decodeParts(enc: { bytes: Uint8Array; nonzero: number }) {
    const k = enc.nonzero;
    return { idx: Array.from(new Uint32Array(enc.bytes.buffer, enc.bytes.byteOffset, k)), val: Array.from(new Float32Array(enc.bytes.buffer, enc.bytes.byteOffset + 4 * k, k)) };
  }

  it("keeps k = max(1, ceil(fraction·n)) entries", () => {
    expect(topkCount(10, 0.01)).toBe(1);
    expect(topkCount(1000, 0.015)).toBe(15);
    expect(topkCount(1001, 0.01)).toBe(11);
    expect(topkCount(7, 1)).toBe(7);
    expect(topkCount(0, 0.5)).toBe(0);
    expect(() => topkCount(10, 0)).toThrow(/fraction/);
    expect(() => topkCount(10, 1.5)).toThrow(/fraction/);
    expect(() => topkCount(10, NaN)).toThrow(/fraction/);
    expect(() => encodeTensor(new Float32Array(3), Encoding.ENCODING_TOPK, { name: "k" })).toThrow(/tensor k: top-k encoding needs a topkFraction/);
  });

  it("keeps exactly the k largest magnitudes, indices ascending, as a reference sort would", () => {
    const r = rng(21);
    for (const [n, f] of [
      [100_000, 0.01],
      [100_000, 0.3],
      [5000, 0.001],
      [3, 0.5],
      [1, 0.01],
    ] as const) {
      const v = new Float32Array(n).map(() => (r() - 0.5) * 2 ** (r() * 20 - 10));
      const k = topkCount(n, f);
      const { out, enc } = roundTrip(v, Encoding.ENCODING_TOPK, f);
      expect(enc.nonzero).toBe(k);
      expect(enc.bytes.byteLength).toBe(8 * k);
      const { idx, val } = decodeParts(enc);
      expect(idx).toEqual(referenceTopk(v, k));
      expect(val).toEqual(idx.map((i) => v[i]));
      const kept = new Set(idx);
      for (let i = 0; i < n; i++) if (out[i] !== (kept.has(i) ? v[i] : 0)) expect.fail(`element ${i}: ${out[i]} vs ${v[i]}`);
    }
  });

  it("breaks ties deterministically by lower index, also across the radix buckets", () => {
    // values from a tiny set: many exact ties at the threshold; signs differ but magnitudes tie
    const r = rng(5);
    const v = new Float32Array(20_000).map(() => [-3, 3, 2, -2, 1, 0.5, 0][Math.floor(r() * 7)]);
    for (const f of [0.01, 0.2, 0.5, 0.9]) {
      const k = topkCount(v.length, f);
      const { idx } = decodeParts(encodeTensor(v, Encoding.ENCODING_TOPK, { topkFraction: f }));
      expect(idx).toEqual(referenceTopk(v, k));
    }
    const same = new Float32Array(100).fill(-1.5);
    expect(decodeParts(encodeTensor(same, Encoding.ENCODING_TOPK, { topkFraction: 0.05 })).idx).toEqual([0, 1, 2, 3, 4]);
  });

  it("handles keys that differ only in low mantissa bits, zeros and infinities", () => {
    const base = f32bits(0.75);
    const bits = new Uint32Array(1000).map((_, i) => base + ((i * 7919) % 1000));
    const v = new Float32Array(bits.buffer);
    const k = topkCount(1000, 0.123);
    expect(decodeParts(encodeTensor(v, Encoding.ENCODING_TOPK, { topkFraction: 0.123 })).idx).toEqual(referenceTopk(v, k));
    const w = new Float32Array([0, -Infinity, 0, 5, -0, Infinity, 1]);
    const { idx, val } = decodeParts(encodeTensor(w, Encoding.ENCODING_TOPK, { topkFraction: 0.4 }));
    expect(idx).toEqual([1, 3, 5]);
    expect(val).toEqual([-Infinity, 5, Infinity]);
    const zeros = new Float32Array(10);
    expect(roundTrip(zeros, Encoding.ENCODING_TOPK, 0.2).out).toEqual(zeros);
  });

  it("decodes from an unaligned offset", () => {
    const v = new Float32Array([0.1, -9, 0.2, 8]);
    const enc = encodeTensor(v, Encoding.ENCODING_TOPK, { topkFraction: 0.5 });
    const raw = new Uint8Array(enc.bytes.byteLength + 3);
    raw.set(enc.bytes, 3);
    expect(Array.from(decodeTensor(spec("s", [2, 2], Encoding.ENCODING_TOPK, enc), raw.subarray(3)))).toEqual([0, -9, 0, 8]);
  });
});

describe("decoding refuses malformed specs and bytes", () => {
  const base = (over: Partial<TensorSpec>): TensorSpec => ({ name: "conv1/kernel", shape: [2, 3], encoding: Encoding.ENCODING_FLOAT32, byteLength: 24, scale: 0, zeroPoint: 0, nonzero: 0, ...over });

  function topk(indices: number[], values: number[], over: Partial<TensorSpec> = {}): [TensorSpec, Uint8Array] {
    const k = indices.length;
    const buf = new ArrayBuffer(8 * k);
    new Uint32Array(buf, 0, k).set(indices);
    new Float32Array(buf, 4 * k, k).set(values);
    return [base({ encoding: Encoding.ENCODING_TOPK, byteLength: 8 * k, nonzero: k, ...over }), new Uint8Array(buf)];
  }

  const rejects = (s: TensorSpec, bytes: Uint8Array, msg: RegExp) => {
    let err: unknown;
    try {
      decodeTensor(s, bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EncodingError);
    const m = (err as Error).message;
    expect(m).toMatch(msg);
    expect(m).not.toMatch(/\n/);
  };

  it("wrong byte_length for the shape and encoding", () => {
    rejects(base({ byteLength: 20 }), new Uint8Array(20), /tensor conv1\/kernel: byte_length 20 does not fit shape \[2,3\] as ENCODING_FLOAT32 \(expected 24\)/);
    rejects(base({ encoding: Encoding.ENCODING_FLOAT16, byteLength: 24 }), new Uint8Array(24), /conv1\/kernel: byte_length 24 .*FLOAT16 \(expected 12\)/);
    rejects(base({ encoding: Encoding.ENCODING_INT8, byteLength: 12, scale: 1 }), new Uint8Array(12), /conv1\/kernel: byte_length 12 .*INT8 \(expected 6\)/);
    rejects(base({ encoding: Encoding.ENCODING_TOPK, byteLength: 12, nonzero: 2 }), new Uint8Array(12), /conv1\/kernel: byte_length 12 does not fit 2 top-k entries .*\(expected 16\)/);
    rejects(base({ byteLength: 1.5 }), new Uint8Array(1), /invalid byte_length 1.5/);
  });

  it("bytes that differ from the announced byte_length", () => {
    rejects(base({}), new Uint8Array(28), /conv1\/kernel: got 28 bytes, its spec announces 24/);
  });

  it("top-k indices out of range, unsorted or duplicated, and nonzero above the element count", () => {
    rejects(...topk([1, 6], [1, 2]), /conv1\/kernel: top-k index 6 at position 1 is out of range for 6 elements/);
    rejects(...topk([0xffffffff], [1]), /top-k index 4294967295 at position 0 is out of range/);
    rejects(...topk([3, 1], [1, 2]), /conv1\/kernel: top-k index 1 at position 1 is not above the previous index 3/);
    rejects(...topk([2, 2], [1, 2]), /top-k index 2 at position 1 is not above the previous index 2/);
    const [s, b] = topk([0, 1, 2, 3, 4, 5, 5], [1, 1, 1, 1, 1, 1, 1]);
    rejects(s, b, /conv1\/kernel: top-k nonzero 7 is not within 0\.\.6/);
    const [ok, okBytes] = topk([0, 5], [1.5, -2]);
    expect(Array.from(decodeTensor(ok, okBytes))).toEqual([1.5, 0, 0, 0, 0, -2]);
  });

  it("int8 scale or zero point that is not finite or not positive", () => {
    const int8 = (scale: number, zeroPoint = 0) => base({ encoding: Encoding.ENCODING_INT8, byteLength: 6, scale, zeroPoint });
    rejects(int8(NaN), new Uint8Array(6), /conv1\/kernel: int8 scale NaN is not a positive finite number/);
    rejects(int8(Infinity), new Uint8Array(6), /int8 scale Infinity/);
    rejects(int8(0), new Uint8Array(6), /int8 scale 0/);
    rejects(int8(-1), new Uint8Array(6), /int8 scale -1/);
    rejects(int8(1, NaN), new Uint8Array(6), /conv1\/kernel: int8 zero_point NaN is not finite/);
    expect(Array.from(decodeTensor(int8(0.5, -1), new Uint8Array([0, 1, 0xff, 0x80, 0x7f, 2])))).toEqual([0.5, 1, 0, -63.5, 64, 1.5]);
  });

  it("unsupported encodings, bad shapes and shapes beyond the element limit", () => {
    rejects(base({ encoding: Encoding.ENCODING_UNSPECIFIED }), new Uint8Array(24), /conv1\/kernel: encoding ENCODING_UNSPECIFIED is not supported/);
    rejects(base({ encoding: 42 as Encoding }), new Uint8Array(24), /encoding 42 is not supported/);
    rejects(base({ shape: [2, -3] }), new Uint8Array(24), /shape \[2,-3\] has an invalid dimension -3/);
    rejects(base({ shape: [2.5] }), new Uint8Array(24), /invalid dimension 2.5/);
    // a few bytes of top-k announcing a gigantic dense tensor
    const [s, b] = topk([0], [1], { shape: [0xffffffff, 0xffffffff] });
    rejects(s, b, /has 18446744065119617000 elements, more than the limit of 268435456/);
    expect(() => validateTensorSpec(base({ shape: [100, 100], byteLength: 40000 }), { maxElements: 1000 })).toThrow(/more than the limit of 1000/);
  });

  it("keeps messages on one line whatever the tensor is called", () => {
    rejects(base({ name: "evil\nname\r", byteLength: 4 }), new Uint8Array(4), /tensor evil\\nname\\r: byte_length 4/);
  });
});

describe("the decoders' table gather", () => {
  it("runs natively where the addon is built (as in CI), bit for bit as the JavaScript loop", () => {
    expect(decodeKernel()).toBe("native");
    const native = loadNativeAddon().addon!.gather32;
    const next = rng(9);
    const table = new Uint32Array(65536).map(() => Math.floor(next() * 2 ** 32));
    for (const n of [0, 1, 7, 4096, 100_003]) {
      for (const Indices of [Uint8Array, Uint16Array]) {
        // A view at an odd element offset, as a tensor inside a payload buffer is.
        const indices = new Indices(n + 1).map(() => Math.floor(next() * 65536)).subarray(1);
        const [a, b] = [new Uint32Array(n + 3), new Uint32Array(n + 3)];
        native(table, indices, a);
        jsGather32(table, indices, b);
        expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
      }
    }
  });

  it("refuses what would read or write out of bounds", () => {
    const native = loadNativeAddon().addon!.gather32;
    expect(() => native(new Uint32Array(255), new Uint8Array(4), new Uint32Array(4))).toThrow("the table does not cover every index");
    expect(() => native(new Uint32Array(256), new Uint16Array(4), new Uint32Array(4))).toThrow("the table does not cover every index");
    expect(() => native(new Uint32Array(256), new Uint8Array(5), new Uint32Array(4))).toThrow("out is shorter than indices");
    expect(() => native(new Uint32Array(256), new Int8Array(4) as unknown as Uint8Array, new Uint32Array(4))).toThrow("indices must be a Uint8Array or Uint16Array");
  });
});
