/**
 * Payloads in any wire encoding: the counterpart of payload.ts's `encodePayload` for FLOAT16, INT8 and TOPK
 * (and FLOAT32). Same `EncodedPayload` shape: a manifest whose specs carry encoding, byte_length, scale,
 * zero_point and nonzero, one part per tensor (parts[i] holds manifest.tensors[i]'s bytes), and the SHA-256 of
 * the encoded bytes. The receiver side is `decodeTensor(spec, bytesView)` per tensor (encodings.ts);
 * `decodePayloadTensors` does that over a whole reassembled buffer.
 */
import { createHash } from "node:crypto";
import type { Encoding, PayloadManifest, TensorSpec } from "../generated/fedfusion/v1/federation.js";
import { decodeTensor, encodeTensor, EncodingError, validateTensorSpec, type DecodeOptions } from "./encodings.js";
import { PayloadError, type EncodedPayload, type NamedTensor } from "./payload.js";

export interface PayloadEncodeOptions {
  /** TOPK: fraction of each tensor's entries to keep, in (0, 1]. */
  topkFraction?: number;
}

export function encodePayloadWith(tensors: readonly NamedTensor[], encoding: Encoding, opts: PayloadEncodeOptions = {}): EncodedPayload {
  const hash = createHash("sha256");
  const parts: Uint8Array[] = [];
  const specs: TensorSpec[] = tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.values.length !== n) throw new EncodingError(`tensor ${t.name} has ${t.values.length} values for shape [${t.shape}]`);
    const e = encodeTensor(t.values, encoding, { topkFraction: opts.topkFraction, name: t.name });
    hash.update(e.bytes);
    parts.push(e.bytes);
    return { name: t.name, shape: [...t.shape], encoding, byteLength: e.bytes.byteLength, scale: e.scale, zeroPoint: e.zeroPoint, nonzero: e.nonzero };
  });
  const totalBytes = parts.reduce((s, p) => s + p.byteLength, 0);
  return { manifest: { tensors: specs, totalBytes, sha256: hash.digest() }, parts };
}

/**
 * Decodes a reassembled payload (whose digest the caller has checked) tensor by tensor. Throws PayloadError
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

/**
 * What the receiver of `payload` will decode, straight from its parts (no reassembly): the `sent` argument of
 * ErrorFeedback.record. FLOAT32 tensors come back as views onto the encoded (= original) values.
 */
export function decodeEncodedPayload(payload: EncodedPayload, opts: DecodeOptions = {}): NamedTensor[] {
  const { manifest, parts } = payload;
  if (parts.length !== manifest.tensors.length) {
    throw new PayloadError(`payload has ${parts.length} parts for ${manifest.tensors.length} tensors (not one part per tensor)`);
  }
  return asPayloadError(() =>
    manifest.tensors.map((spec, i) => ({ name: spec.name, shape: [...spec.shape], values: decodeTensor(spec, parts[i], opts) })),
  );
}

function asPayloadError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof EncodingError) throw new PayloadError(e.message);
    throw e;
  }
}
