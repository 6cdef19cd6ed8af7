import { describe, expect, it } from "vitest";
import { Random } from "../../../shared/random.js";
import { jsChecksum } from "../../../shared/codec/crc32c.js";
import { decodeTensor, encodeTensor } from "../../../shared/codec/encodings.js";
import { chunkPayload, decodeEncodedPayload, decodePayloadTensors, encodePayload, MAX_CHUNK_BYTES, PayloadError, type NamedTensor } from "../../../shared/codec/payload.js";
import { chunkMessageBytes } from "../../../shared/codec/wireSize.js";
import { Encoding, PayloadManifest, UpdateChunk } from "../../../shared/generated/fedfusion/v1/federation.js";

function rng(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

/** Odd element counts, so that after FLOAT16/INT8 tensors the next tensor starts unaligned in the payload. */
function tensors(seed = 1): NamedTensor[] {
  const r = rng(seed);
  const make = (name: string, shape: number[]) => ({ name, shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => (r() - 0.5) * 0.1) });
  return [make("conv1/kernel", [3, 3, 1, 7]), make("conv1/bias", [7]), make("dense/kernel", [301, 333]), make("dense/bias", [3])];
}

function reassemble(parts: Uint8Array[]): Uint8Array {
  const chunks = [...chunkPayload(parts)];
  const buf = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let o = 0;
  for (const c of chunks) {
    buf.set(c, o);
    o += c.byteLength;
  }
  return buf;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const ALL = [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_FLOAT16, Encoding.ENCODING_INT8, Encoding.ENCODING_TOPK];

describe("payloads in any encoding", () => {
  it("encodes with per-tensor specs and a CRC-32C of the encoded bytes, and decodes what decodeTensor gives", () => {
    const ts = tensors();
    for (const enc of ALL) {
      const p = encodePayload(ts, enc, { topkFraction: 0.05 });
      expect(p.parts.length).toBe(ts.length);
      const buf = reassemble(p.parts);
      expect(p.manifest.totalBytes).toBe(buf.byteLength);
      expect(p.manifest.crc32c).toBe(jsChecksum.crc32c(buf, 0));
      p.manifest.tensors.forEach((s, i) => {
        const e = encodeTensor(ts[i].values, enc, { topkFraction: 0.05 });
        expect(s).toEqual({ name: ts[i].name, shape: ts[i].shape, encoding: enc, byteLength: e.bytes.byteLength, scale: e.scale, zeroPoint: e.zeroPoint, nonzero: e.nonzero });
      });
      const fromBuffer = decodePayloadTensors(p.manifest, buf);
      const fromParts = decodeEncodedPayload(p);
      fromBuffer.forEach((t, i) => {
        expect(t.name).toBe(ts[i].name);
        expect(t.shape).toEqual(ts[i].shape);
        expect(t.values.length).toBe(ts[i].values.length);
        expect(bits(t.values).equals(bits(decodeTensor(p.manifest.tensors[i], p.parts[i])))).toBe(true);
        expect(bits(fromParts[i].values).equals(bits(t.values))).toBe(true);
      });
      if (enc === Encoding.ENCODING_FLOAT32) fromBuffer.forEach((t, i) => expect(bits(t.values).equals(bits(ts[i].values))).toBe(true));
    }
  });

  it("FLOAT32 matches payload.ts's encodePayload byte for byte", () => {
    const ts = tensors();
    const a = encodePayload(ts);
    const b = encodePayload(ts, Encoding.ENCODING_FLOAT32);
    expect(b.manifest).toEqual(a.manifest);
    expect(Buffer.from(reassemble(b.parts)).equals(Buffer.from(reassemble(a.parts)))).toBe(true);
  });

  it("refuses tensors whose values do not fit the shape, and buffers that do not fit the manifest", () => {
    const ts = tensors();
    expect(() => encodePayload([{ ...ts[0], shape: [2] }], Encoding.ENCODING_INT8)).toThrow(/tensor conv1\/kernel has 63 values for shape \[2\]/);
    const p = encodePayload(ts, Encoding.ENCODING_FLOAT16);
    const buf = reassemble(p.parts);
    expect(() => decodePayloadTensors(p.manifest, buf.subarray(0, buf.byteLength - 2))).toThrow(PayloadError);
    const lying = { ...p.manifest, tensors: p.manifest.tensors.map((s, i) => (i === 1 ? { ...s, byteLength: s.byteLength + 2 } : s)) };
    expect(() => decodePayloadTensors(lying, buf)).toThrow(/tensor conv1\/bias: byte_length 16 does not fit shape \[7\] as ENCODING_FLOAT16/);
  });

  it("meets the wire-size targets for a 1M-element tensor, gRPC framing and manifest included", () => {
    const r = rng(9);
    const n = 1 << 20;
    const t: NamedTensor = { name: "dense/kernel", shape: [1024, 1024], values: new Float32Array(n).map(() => (r() - 0.5) * 0.01) };
    const raw = 4 * n;
    const wire = (enc: Encoding, topkFraction?: number) => {
      const p = encodePayload([t], enc, { topkFraction });
      const chunks = [...chunkPayload(p.parts)];
      expect(chunks.every((c) => c.byteLength <= MAX_CHUNK_BYTES)).toBe(true);
      const header = UpdateChunk.encode({ header: { sessionId: "s".repeat(36), round: 1, baseModelVersion: 1, numExamples: 1, manifest: p.manifest, extensions: {} } }).finish().byteLength;
      expect(header).toBeLessThan(200 + PayloadManifest.encode(p.manifest).finish().byteLength);
      return (5 + header + chunks.reduce((s, c) => s + chunkMessageBytes(c.byteLength), 0)) / raw;
    };
    const f32 = wire(Encoding.ENCODING_FLOAT32);
    const f16 = wire(Encoding.ENCODING_FLOAT16);
    const i8 = wire(Encoding.ENCODING_INT8);
    const tk = wire(Encoding.ENCODING_TOPK, 0.01);
    expect(f32).toBeLessThanOrEqual(1.02);
    expect(f16).toBeLessThanOrEqual(0.52);
    expect(i8).toBeLessThanOrEqual(0.27);
    expect(tk).toBeLessThanOrEqual(0.021);
    // tight: the framing overhead is tiny, so the ratios sit just above 1, 1/2, 1/4 and 8·1%/4
    expect(f32).toBeGreaterThanOrEqual(1);
    expect(f16).toBeGreaterThanOrEqual(0.5);
    expect(i8).toBeGreaterThanOrEqual(0.25);
    expect(tk).toBeGreaterThanOrEqual(0.02);
  });
});
