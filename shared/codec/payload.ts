/**
 * Weights on the wire: an ordered list of named float32 tensors becomes a manifest plus a byte payload
 * (the tensors' bytes back to back), sent as chunks of at most 1 MiB. Nothing here limits a model to one
 * gRPC message; the receiver reassembles into one buffer and checks the CRC-32C before anything uses it.
 */
import os from "node:os";
import { Encoding, type PayloadManifest, type TensorSpec } from "../generated/fedfusion/v1/federation.js";
import { elementCount, type WeightSpec } from "../model/weights.js";
import { checksum } from "./crc32c.js";
import { decodeTensor, encodeTensor, EncodingError, validateTensorSpec, type DecodeOptions } from "./encodings.js";

/** gRPC's default message limit is 4 MiB; 1 MiB chunks keep memory per in-flight message small. */
export const MAX_CHUNK_BYTES = 1 << 20;

if (os.endianness() !== "LE") throw new Error("fedfusion's wire codec assumes a little-endian machine");

export interface NamedTensor extends WeightSpec {
  values: Float32Array;
}

export interface EncodedPayload {
  manifest: PayloadManifest;
  /** The payload as byte views onto the tensors (no copy). */
  parts: Uint8Array[];
}

/** A malformed or inconsistent payload; the message names what is wrong. */
export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PayloadError";
  }
}

export interface PayloadEncodeOptions {
  /** TOPK: fraction of each tensor's entries to keep, in (0, 1]. */
  topkFraction?: number;
}

/**
 * Encodes the tensors (FLOAT32 by default: views onto the values, no copy; FLOAT16, INT8 and TOPK are
 * lossy, see encodings.ts). One part per tensor; the checksum covers the encoded bytes.
 */
export function encodePayload(tensors: readonly NamedTensor[], encoding: Encoding = Encoding.ENCODING_FLOAT32, opts: PayloadEncodeOptions = {}): EncodedPayload {
  const { crc32c } = checksum();
  let crc = 0;
  const parts: Uint8Array[] = [];
  const specs: TensorSpec[] = tensors.map((t) => {
    if (t.values.length !== elementCount(t.shape)) throw new Error(`tensor ${t.name} has ${t.values.length} values for shape [${t.shape}]`);
    const e = encodeTensor(t.values, encoding, { topkFraction: opts.topkFraction, name: t.name });
    crc = crc32c(e.bytes, crc);
    parts.push(e.bytes);
    return { name: t.name, shape: [...t.shape], encoding, byteLength: e.bytes.byteLength, scale: e.scale, zeroPoint: e.zeroPoint, nonzero: e.nonzero };
  });
  const totalBytes = parts.reduce((n, p) => n + p.byteLength, 0);
  return { manifest: { tensors: specs, totalBytes, crc32c: crc }, parts };
}

/**
 * What the receiver of `payload` will decode, straight from its parts: for a lossy encoding, the `sent`
 * argument of ErrorFeedback.record.
 */
export function decodeEncodedPayload(payload: EncodedPayload, opts: DecodeOptions = {}): NamedTensor[] {
  const { manifest, parts } = payload;
  if (parts.length !== manifest.tensors.length) {
    throw new PayloadError(`payload has ${parts.length} parts for ${manifest.tensors.length} tensors (not one part per tensor)`);
  }
  return asPayloadError(() => manifest.tensors.map((spec, i) => ({ name: spec.name, shape: [...spec.shape], values: decodeTensor(spec, parts[i], opts) })));
}

/**
 * Decodes a reassembled payload (whose checksum the caller has checked) tensor by tensor. Throws PayloadError
 * when the specs do not add up to the buffer or a tensor does not decode.
 */
export function decodePayloadTensors(manifest: PayloadManifest, buffer: Uint8Array, opts: DecodeOptions = {}): NamedTensor[] {
  return asPayloadError(() => {
    let sum = 0;
    for (const spec of manifest.tensors) {
      validateTensorSpec(spec, opts);
      sum += spec.byteLength;
    }
    if (sum !== buffer.byteLength || manifest.totalBytes !== buffer.byteLength) {
      throw new PayloadError(`payload of ${buffer.byteLength} bytes does not match its manifest (total ${manifest.totalBytes}, tensors ${sum})`);
    }
    let offset = 0;
    return manifest.tensors.map((spec) => {
      const values = decodeTensor(spec, buffer.subarray(offset, offset + spec.byteLength), opts);
      offset += spec.byteLength;
      return { name: spec.name, shape: [...spec.shape], values };
    });
  });
}

function asPayloadError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EncodingError) throw new PayloadError(e.message);
    throw e;
  }
}

/**
 * Splits the payload into chunks of at most maxChunk bytes, each given as the views of the parts it covers
 * (a chunk may span tensor boundaries): for senders that write a chunk's pieces where they are.
 */
export function* chunkPieces(parts: readonly Uint8Array[], maxChunk = MAX_CHUNK_BYTES): Generator<Uint8Array[]> {
  let pieces: Uint8Array[] = [];
  let fill = 0;
  for (const part of parts) {
    for (let offset = 0; offset < part.byteLength; ) {
      const n = Math.min(maxChunk - fill, part.byteLength - offset);
      pieces.push(part.subarray(offset, offset + n));
      fill += n;
      offset += n;
      if (fill === maxChunk) {
        yield pieces;
        pieces = [];
        fill = 0;
      }
    }
  }
  if (fill > 0) yield pieces;
}

/** Splits the payload into chunks of at most maxChunk bytes; a chunk that spans tensor boundaries is copied into one array. */
export function* chunkPayload(parts: readonly Uint8Array[], maxChunk = MAX_CHUNK_BYTES): Generator<Uint8Array> {
  for (const pieces of chunkPieces(parts, maxChunk)) yield pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
}

/**
 * Receives a manifest, then data chunks, into one preallocated buffer (copy and CRC in one pass over each
 * chunk, while it is still in cache); finish() checks length and checksum and
 * returns the tensors as views onto that buffer. `expected` (the model's layout) is checked up front, so a
 * payload of the wrong shape is refused before its bytes are even received.
 */
export class PayloadAssembler {
  private readonly buffer: Uint8Array;
  private received = 0;
  private crc = 0;
  private readonly copyCrc32c = checksum().copyCrc32c;

  /**
   * `buffer`: where to assemble (its first totalBytes bytes); by default a new one. `output`: where to decode
   * float16, int8 and top-k tensors (DecodeOptions.output); float32 ones are views onto the buffer.
   */
  constructor(
    private readonly manifest: PayloadManifest,
    expected: readonly WeightSpec[] | null,
    maxBytes: number,
    buffer?: (bytes: number) => Uint8Array,
    private readonly output?: (elements: number) => Float32Array,
  ) {
    validateManifest(manifest, expected, maxBytes);
    this.buffer = buffer ? buffer(manifest.totalBytes).subarray(0, manifest.totalBytes) : new Uint8Array(manifest.totalBytes);
  }

  push(chunk: Uint8Array): void {
    if (this.received + chunk.byteLength > this.buffer.byteLength) {
      throw new PayloadError(`payload exceeds the ${this.buffer.byteLength} bytes its manifest announced`);
    }
    this.crc = this.copyCrc32c(this.buffer.subarray(this.received), chunk, this.crc);
    this.received += chunk.byteLength;
  }

  finish(): NamedTensor[] {
    if (this.received !== this.buffer.byteLength) {
      throw new PayloadError(`payload ended after ${this.received} of ${this.buffer.byteLength} bytes`);
    }
    if (this.crc !== this.manifest.crc32c) throw new PayloadError("payload CRC-32C does not match its manifest (damaged in transit)");
    return decodePayloadTensors(this.manifest, this.buffer, { output: this.output });
  }
}

/**
 * A DecodeOptions.output that hands consecutive tensors consecutive parts of one region, taken from `space`
 * on the first tensor that needs it (a float32 payload decodes to views and never does).
 */
export function decodeRegions(space: () => Float32Array): (elements: number) => Float32Array {
  let region: Float32Array | null = null;
  let used = 0;
  return (elements) => {
    region ??= space();
    if (used + elements > region.length) throw new RangeError(`decode space of ${region.length} values is full`);
    used += elements;
    return region.subarray(used - elements, used);
  };
}

function validateManifest(m: PayloadManifest, expected: readonly WeightSpec[] | null, maxBytes: number): void {
  if (m.crc32c === undefined) throw new PayloadError("manifest has no CRC-32C (a sender older than this protocol, which sent a SHA-256)");
  if (m.totalBytes > maxBytes) throw new PayloadError(`payload of ${m.totalBytes} bytes exceeds the limit of ${maxBytes}`);
  if (expected && m.tensors.length !== expected.length) {
    throw new PayloadError(`payload has ${m.tensors.length} tensors, the model has ${expected.length}`);
  }
  let sum = 0;
  m.tensors.forEach((t, i) => {
    asPayloadError(() => validateTensorSpec(t));
    const e = expected?.[i];
    if (e && (e.name !== t.name || e.shape.join(",") !== t.shape.join(","))) {
      throw new PayloadError(`tensor ${i} is ${t.name} [${t.shape}], the model expects ${e.name} [${e.shape}]`);
    }
    sum += t.byteLength;
  });
  if (sum !== m.totalBytes) throw new PayloadError(`manifest total of ${m.totalBytes} bytes disagrees with its tensors' ${sum}`);
}
