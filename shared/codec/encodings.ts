/**
 * Per-tensor wire encodings of float32 weights and weight updates: pure functions over Float32Array.
 *
 *  - FLOAT32: the raw little-endian bytes (encode returns a view; decode returns a view when aligned).
 *  - FLOAT16: IEEE-754 half precision, round-to-nearest-even, subnormals, ±Inf, NaN; overflow gives ±Inf.
 *  - INT8:    affine per tensor, value = scale · (q − zero_point), q ∈ [−128, 127] (see `int8Params`).
 *  - TOPK:    the k = max(1, ⌈fraction·n⌉) entries of largest magnitude: k uint32 indices (strictly
 *             ascending) then their k float32 values; decoding gives a dense tensor, zero elsewhere.
 *
 * The decoder reads network input: `validateTensorSpec` checks a spec on its own (byte_length against
 * shape/encoding/nonzero, scale and zero point finite, a bound on the dense size) so that a receiver can
 * refuse a manifest before any bytes arrive, and `decodeTensor` checks it again together with the bytes
 * (TOPK indices in range and strictly ascending). Every failure is an `EncodingError` whose one-line
 * message names the tensor.
 *
 * This module imports nothing from payload.ts, so payload.ts can import it without an import cycle.
 */
import os from "node:os";
import { nativeOr } from "../backends/native/nativeAddon.js";
import { Encoding, type TensorSpec } from "../generated/fedfusion/v1/federation.js";

if (os.endianness() !== "LE") throw new Error("fedfusion's wire codec assumes a little-endian machine");

/** A tensor that cannot be encoded, or a spec/bytes pair that cannot be decoded; the message names the tensor. */
export class EncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EncodingError";
  }
}

export interface EncodeOptions {
  /** TOPK: the fraction of entries to keep, in (0, 1]; k = max(1, ceil(fraction · n)). Required for TOPK. */
  topkFraction?: number;
  /** Used in error messages only. */
  name?: string;
}

export interface EncodedTensor {
  bytes: Uint8Array;
  /** INT8 only (0 otherwise). */
  scale: number;
  /** INT8 only (0 otherwise). */
  zeroPoint: number;
  /** TOPK only: how many (index, value) pairs `bytes` holds (0 otherwise). */
  nonzero: number;
}

export interface DecodeOptions {
  /**
   * Largest dense element count accepted for one tensor. A TOPK tensor of a few bytes can announce a huge
   * shape, so the payload-size limit alone does not bound what decoding allocates. Default 2^28 (1 GiB).
   */
  maxElements?: number;
  /**
   * Where a float16, int8 or top-k tensor is decoded: an array of exactly that many elements, whatever it
   * holds (every element is written). Default: a new one. A receiver that decodes many payloads lends reused
   * memory here, sparing a model-sized allocation (and its page faults and collection) per payload.
   */
  output?: (elements: number) => Float32Array;
}

export const DEFAULT_MAX_TENSOR_ELEMENTS = 2 ** 28;

/** Bytes per element of the dense encodings; TOPK takes 8 bytes per kept entry. */
export function bytesPerElement(encoding: Encoding): number {
  switch (encoding) {
    case Encoding.ENCODING_FLOAT32:
      return 4;
    case Encoding.ENCODING_FLOAT16:
      return 2;
    case Encoding.ENCODING_INT8:
      return 1;
    case Encoding.ENCODING_TOPK:
      return 8;
    default:
      throw new EncodingError(`encoding ${encodingName(encoding)} is not supported`);
  }
}

/** The k that TOPK keeps of n entries for a fraction in (0, 1]. */
export function topkCount(n: number, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new EncodingError(`top-k fraction must be in (0, 1], got ${fraction}`);
  if (n === 0) return 0;
  return Math.min(n, Math.max(1, Math.ceil(fraction * n)));
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

export function encodeTensor(values: Float32Array, encoding: Encoding, opts: EncodeOptions = {}): EncodedTensor {
  const label = tensorLabel(opts.name);
  switch (encoding) {
    case Encoding.ENCODING_FLOAT32:
      return { bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength), scale: 0, zeroPoint: 0, nonzero: 0 };
    case Encoding.ENCODING_FLOAT16: {
      const half = new Uint16Array(values.length);
      floatToHalf(u32View(values), half);
      return { bytes: new Uint8Array(half.buffer), scale: 0, zeroPoint: 0, nonzero: 0 };
    }
    case Encoding.ENCODING_INT8:
      return encodeInt8(values, label);
    case Encoding.ENCODING_TOPK: {
      if (opts.topkFraction === undefined) throw new EncodingError(`${label}: top-k encoding needs a topkFraction in (0, 1]`);
      let k: number;
      try {
        k = topkCount(values.length, opts.topkFraction);
      } catch (e) {
        throw new EncodingError(`${label}: ${(e as Error).message}`);
      }
      return { bytes: encodeTopk(u32View(values), k), scale: 0, zeroPoint: 0, nonzero: k };
    }
    default:
      throw new EncodingError(`${label}: encoding ${encodingName(encoding)} is not supported`);
  }
}

// --- FLOAT16 ---------------------------------------------------------------------------------------------

/**
 * float32 bits → half bits, round-to-nearest-even, integer arithmetic only (no allocation, no float ops):
 *  - |x| ≥ 65520 rounds to ±Inf (the rounding carry does it for [65520, 65536); above that, explicitly);
 *  - NaN stays NaN (quiet, top payload bits kept);
 *  - normal halves: rebias the exponent, add 0xfff + the lowest kept mantissa bit, shift (RNE; a mantissa
 *    carry correctly bumps the exponent);
 *  - subnormal halves (|x| < 2^-14): the mantissa with its implicit bit, shifted by 14..24 with the same
 *    "half − 1 + odd" rounding bias; |x| ≤ 2^-25 gives ±0 (2^-25 itself is a tie that rounds to even 0).
 */
export function floatToHalf(src: Uint32Array, dst: Uint16Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = src[i];
    const a = x & 0x7fffffff;
    let h: number;
    if (a >= 0x38800000) {
      if (a < 0x47800000) h = (a - 0x37fff001 + ((a >>> 13) & 1)) >>> 13;
      else h = a > 0x7f800000 ? 0x7e00 | ((a >>> 13) & 0x3ff) : 0x7c00;
    } else if (a > 0x33000000) {
      const shift = 126 - (a >>> 23);
      const m = (a & 0x7fffff) | 0x800000;
      h = (m + (1 << (shift - 1)) - 1 + ((m >>> shift) & 1)) >>> shift;
    } else {
      h = 0;
    }
    dst[i] = h | ((x >>> 16) & 0x8000);
  }
}

let halfTable: Uint32Array | null = null;

/** float32 bits of every half, indexed by the half's bits (256 KiB, built on first use). */
function halfToFloatTable(): Uint32Array {
  if (halfTable) return halfTable;
  const t = new Uint32Array(65536);
  const f = new Float32Array(1);
  const fu = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) {
      f[0] = m * 2 ** -24; // exact
      t[h] = (sign | fu[0]) >>> 0;
    } else if (e === 31) {
      t[h] = (sign | 0x7f800000 | (m << 13)) >>> 0;
    } else {
      t[h] = (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
    }
  }
  halfTable = t;
  return t;
}

/** half bits → float32 bits, by table. */
export function halfToFloat(src: Uint16Array, dst: Uint32Array): void {
  gather32()(halfToFloatTable(), src, dst);
}

/** out[i] = table[indices[i]]: both lossy decoders are this one loop over a table of float32 bits. */
export type Gather32 = (table: Uint32Array, indices: Uint8Array | Uint16Array, out: Uint32Array) => void;

/** Bits to bits: no float conversion per value. */
export const jsGather32: Gather32 = (table, indices, out) => {
  const n = indices.length;
  for (let i = 0; i < n; i++) out[i] = table[indices[i]];
};

/**
 * The addon's gather when it is built (4–5x jsGather32 here), else jsGather32; the same bits either way,
 * since both read the same table.
 */
const gather32 = nativeOr("gather32", jsGather32);

/** "native" or "javascript": which gather decodes float16 and int8 tensors in this process. */
export function decodeKernel(): string {
  return gather32() === jsGather32 ? "javascript" : "native";
}

// --- INT8 ------------------------------------------------------------------------------------------------

export interface Int8Params {
  scale: number;
  zeroPoint: number;
}

const MIN_POSITIVE_F32 = 2 ** -149;

/**
 * The affine parameters for a tensor with range [min, max] (finite), both exactly float32 (they travel as
 * proto `float`), with value = scale · (q − zeroPoint) and q = clamp(round(v / scale + zeroPoint), −128, 127):
 *  - min = max = c (constant tensor): c = 0 → scale 1, zp 0; otherwise scale = |c| and zp = −sign(c), so
 *    every value encodes as q = 0 and decodes to exactly c.
 *  - otherwise scale = fround((max − min) / 255) and
 *      · if min ≤ 0 ≤ max: zp = clamp(round(−128 − min/scale), −128, 127), an integer, so 0 is exact
 *        (q = zp) and min, max land within scale/2 of the grid (the usual "nudged" zero point);
 *      · else: zp = fround(−128 − min/scale), not an integer, so min ↦ q = −128 and max ↦ q = 127
 *        exactly (up to float32 rounding of zp), using all 256 levels on [min, max].
 *    Either way |v − decode(q)| ≤ scale/2 (plus float32 rounding) for every v in [min, max].
 */
export function int8Params(min: number, max: number): Int8Params {
  if (min === max) {
    if (min === 0) return { scale: 1, zeroPoint: 0 };
    return { scale: Math.abs(min), zeroPoint: min > 0 ? -1 : 1 };
  }
  let scale = Math.fround((max - min) / 255);
  if (scale === 0) scale = MIN_POSITIVE_F32;
  if (min <= 0 && max >= 0) {
    const zp = Math.round(-128 - min / scale);
    return { scale, zeroPoint: zp < -128 ? -128 : zp > 127 ? 127 : zp };
  }
  return { scale, zeroPoint: Math.fround(-128 - min / scale) };
}

function encodeInt8(values: Float32Array, label: string): EncodedTensor {
  const n = values.length;
  let min = Infinity;
  let max = -Infinity;
  let poison = 0; // v·0 is NaN for NaN and ±Inf
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
    poison += v * 0;
  }
  if (poison !== 0) {
    const i = values.findIndex((v) => !Number.isFinite(v));
    throw new EncodingError(`${label}: int8 encoding needs finite values, element ${i} is ${values[i]}`);
  }
  const { scale, zeroPoint } = n === 0 ? { scale: 1, zeroPoint: 0 } : int8Params(min, max);
  const out = new Uint8Array(n);
  quantizeInt8(values, out, scale, zeroPoint);
  return { bytes: out, scale, zeroPoint, nonzero: 0 };
}

/** q = clamp(round(v/scale + zp), −128, 127), stored as two's-complement bytes. round() is floor(x + 0.5). */
export function quantizeInt8(values: Float32Array, out: Uint8Array, scale: number, zeroPoint: number): void {
  const inv = 1 / scale;
  const bias = zeroPoint + 128.5;
  const n = values.length;
  for (let i = 0; i < n; i++) {
    // floor(t + 128.5), clamped to 0..255 first so that `| 0` (truncation) only sees values in [0, 255].
    const t = values[i] * inv + bias;
    out[i] = (t <= 0 ? 0 : t >= 255 ? 255 : t | 0) ^ 0x80;
  }
}

// --- TOPK ------------------------------------------------------------------------------------------------

let hist1: Uint32Array | null = null;
let hist2: Uint32Array | null = null;

/**
 * Selects the k entries of largest magnitude in O(n): magnitudes compare like the float32 bits with the sign
 * cleared (NaN counts as larger than Inf), so a two-level radix select (16 high bits, then 15 low bits within
 * the threshold bucket) finds the exact k-th largest key T. Entries above T are all kept; of the entries equal
 * to T, the ones with the lowest indices are kept (deterministic ties). The emitting pass walks the tensor in
 * order, so indices come out ascending.
 */
function encodeTopk(u: Uint32Array, k: number): Uint8Array {
  const n = u.length;
  const buf = new ArrayBuffer(8 * k);
  const idx = new Uint32Array(buf, 0, k);
  const val = new Uint32Array(buf, 4 * k, k);
  if (k === 0) return new Uint8Array(buf);
  if (k === n) {
    for (let i = 0; i < n; i++) idx[i] = i;
    val.set(u);
    return new Uint8Array(buf);
  }
  const h1 = (hist1 ??= new Uint32Array(1 << 16)).fill(0);
  for (let i = 0; i < n; i++) h1[(u[i] & 0x7fffffff) >>> 15]++;
  const top = bucketHolding(h1, k);
  const need = k - top.above; // entries to take from bucket top.bucket, ≥ 1
  const h2 = (hist2 ??= new Uint32Array(1 << 15)).fill(0);
  for (let i = 0; i < n; i++) {
    const key = u[i] & 0x7fffffff;
    if (key >>> 15 === top.bucket) h2[key & 0x7fff]++;
  }
  const low = bucketHolding(h2, need);
  const threshold = (top.bucket << 15) | low.bucket;
  let ties = need - low.above; // entries equal to the threshold to keep, lowest indices first
  let j = 0;
  for (let i = 0; i < n && j < k; i++) {
    const x = u[i];
    const key = x & 0x7fffffff;
    if (key > threshold || (key === threshold && ties-- > 0)) {
      idx[j] = i;
      val[j] = x;
      j++;
    }
  }
  return new Uint8Array(buf);
}

/**
 * Scanning a histogram from its highest bucket down: the bucket where the running count reaches `rank`
 * (bucket 0 at the latest), and how many entries lie in the buckets above it.
 */
function bucketHolding(hist: Uint32Array, rank: number): { bucket: number; above: number } {
  let above = 0;
  let bucket = hist.length - 1;
  for (; bucket > 0; bucket--) {
    const c = hist[bucket];
    if (above + c >= rank) break;
    above += c;
  }
  return { bucket, above };
}

// ---------------------------------------------------------------------------------------------------------
// Validation and decoding

/**
 * Checks a spec on its own and returns its dense element count: a supported encoding, a shape of
 * non-negative integers within `maxElements`, byte_length equal to what shape/encoding/nonzero imply
 * (4n, 2n, n, 8·nonzero with nonzero ≤ n), and for INT8 a positive finite scale and a finite zero point.
 */
export function validateTensorSpec(spec: TensorSpec, opts: DecodeOptions = {}): number {
  const label = tensorLabel(spec.name);
  const maxElements = opts.maxElements ?? DEFAULT_MAX_TENSOR_ELEMENTS;
  let n = 1;
  for (const d of spec.shape) {
    if (!Number.isInteger(d) || d < 0) throw new EncodingError(`${label}: shape [${spec.shape}] has an invalid dimension ${d}`);
    n *= d;
  }
  if (n > maxElements) throw new EncodingError(`${label}: shape [${spec.shape}] has ${n} elements, more than the limit of ${maxElements}`);
  const byteLength = spec.byteLength;
  if (!Number.isSafeInteger(byteLength) || byteLength < 0) throw new EncodingError(`${label}: invalid byte_length ${byteLength}`);
  let expected: number;
  switch (spec.encoding) {
    case Encoding.ENCODING_FLOAT32:
      expected = 4 * n;
      break;
    case Encoding.ENCODING_FLOAT16:
      expected = 2 * n;
      break;
    case Encoding.ENCODING_INT8:
      if (!(Number.isFinite(spec.scale) && spec.scale > 0)) throw new EncodingError(`${label}: int8 scale ${spec.scale} is not a positive finite number`);
      if (!Number.isFinite(spec.zeroPoint)) throw new EncodingError(`${label}: int8 zero_point ${spec.zeroPoint} is not finite`);
      expected = n;
      break;
    case Encoding.ENCODING_TOPK: {
      const nz = spec.nonzero;
      if (!Number.isSafeInteger(nz) || nz < 0 || nz > n) throw new EncodingError(`${label}: top-k nonzero ${nz} is not within 0..${n} for shape [${spec.shape}]`);
      expected = 8 * nz;
      break;
    }
    default:
      throw new EncodingError(`${label}: encoding ${encodingName(spec.encoding)} is not supported`);
  }
  if (byteLength !== expected) {
    const what = spec.encoding === Encoding.ENCODING_TOPK ? `${spec.nonzero} top-k entries` : `shape [${spec.shape}]`;
    throw new EncodingError(`${label}: byte_length ${byteLength} does not fit ${what} as ${encodingName(spec.encoding)} (expected ${expected})`);
  }
  return n;
}

/**
 * Decodes one tensor's bytes (exactly spec.byteLength of them) into a dense Float32Array. FLOAT32 returns a
 * view onto `bytes` when it is 4-byte aligned (a copy otherwise); the other encodings return a new array.
 */
export function decodeTensor(spec: TensorSpec, bytes: Uint8Array, opts: DecodeOptions = {}): Float32Array {
  const n = validateTensorSpec(spec, opts);
  if (bytes.byteLength !== spec.byteLength) {
    throw new EncodingError(`${tensorLabel(spec.name)}: got ${bytes.byteLength} bytes, its spec announces ${spec.byteLength}`);
  }
  switch (spec.encoding) {
    case Encoding.ENCODING_FLOAT32:
      return bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(bytes.slice().buffer);
    case Encoding.ENCODING_FLOAT16: {
      const half = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.slice().buffer);
      const out = outputOf(opts, n);
      halfToFloat(half, u32View(out));
      return out;
    }
    case Encoding.ENCODING_INT8:
      return dequantizeInt8(bytes, spec.scale, spec.zeroPoint, outputOf(opts, n));
    default: // ENCODING_TOPK, the only other encoding validateTensorSpec lets through
      return decodeTopk(spec, bytes, n, opts.output ? outputOf(opts, n).fill(0) : new Float32Array(n));
  }
}

function outputOf(opts: DecodeOptions, n: number): Float32Array {
  const out = opts.output?.(n) ?? new Float32Array(n);
  if (out.length !== n) throw new RangeError(`decode output of ${out.length} elements for a tensor of ${n}`);
  return out;
}

/** value = scale · (q − zp) through a 256-entry table indexed by the byte; into `out` (default: a new array). */
export function dequantizeInt8(bytes: Uint8Array, scale: number, zeroPoint: number, out: Float32Array = new Float32Array(bytes.length)): Float32Array {
  const lut = new Float32Array(256);
  for (let b = 0; b < 256; b++) lut[b] = scale * (((b << 24) >> 24) - zeroPoint);
  gather32()(u32View(lut), bytes, u32View(out));
  return out;
}

/** `out`: n zeros, where the kept entries are scattered. */
function decodeTopk(spec: TensorSpec, bytes: Uint8Array, n: number, out: Float32Array): Float32Array {
  const k = spec.nonzero;
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const idx = new Uint32Array(aligned.buffer, aligned.byteOffset, k);
  const val = new Uint32Array(aligned.buffer, aligned.byteOffset + 4 * k, k);
  const outBits = u32View(out);
  let prev = -1;
  for (let j = 0; j < k; j++) {
    const i = idx[j];
    if (i <= prev || i >= n) {
      const why = i >= n ? `is out of range for ${n} elements` : `is not above the previous index ${prev} (indices must be strictly ascending)`;
      throw new EncodingError(`${tensorLabel(spec.name)}: top-k index ${i} at position ${j} ${why}`);
    }
    outBits[i] = val[j];
    prev = i;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function encodingName(e: Encoding): string {
  return Encoding[e] ?? String(e);
}

/** "tensor <name>" on one line: names come off the network, so control characters are escaped and long names cut. */
function tensorLabel(name: string | undefined): string {
  if (name === undefined) return "tensor";
  const s = JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name).slice(1, -1);
  return `tensor ${s}`;
}
