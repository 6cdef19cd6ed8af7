/**
 * The Federation service with its payload-chunk messages (ModelChunk / UpdateChunk `data`) encoded and
 * decoded without copying the payload bytes. The ts-proto code copies each chunk up to three times
 * (into its writer, out of it, into a Buffer) and once more when decoding; at 1 MiB per message that was
 * most of the coordinator's CPU per MB moved. Wire format and everything else are the generated code's.
 *
 * Both chunk messages are `oneof part { header = 1; bytes data = 2; }`, so a data chunk is exactly the
 * tag byte 0x12 (field 2, length-delimited), a varint length and the bytes.
 */
import { makeGenericClientConstructor } from "@grpc/grpc-js";
import { FederationClient, FederationService, ModelChunk, UpdateChunk } from "../generated/fedfusion/v1/federation.js";

const DATA_TAG = 0x12;

/**
 * The field header of a data chunk of `dataBytes` bytes (its tag and varint length), written into `out` at
 * `offset`; returns its length.
 */
export function writeDataChunkHead(dataBytes: number, out: Buffer, offset: number): number {
  out[offset] = DATA_TAG;
  let n = dataBytes;
  let i = offset + 1;
  while (n >= 0x80) {
    out[i++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[i] = n;
  return i + 1 - offset;
}

/**
 * The serialized `{ part: { $case: "data", value: data } }` of either chunk message, written into `out` at
 * `offset` (room for dataChunkBytes); returns a view of it.
 */
export function encodeDataChunkInto(data: Uint8Array, out: Buffer, offset: number): Buffer {
  const head = writeDataChunkHead(data.byteLength, out, offset);
  out.set(data, offset + head);
  return out.subarray(offset, offset + head + data.byteLength);
}

/** The data of a message that is exactly one data chunk, as a view (no copy); otherwise null. */
export function dataChunkView(message: Buffer): Buffer | null {
  if (message.length < 2 || message[0] !== DATA_TAG) return null;
  let len = 0;
  let scale = 1;
  let i = 1;
  for (; i < message.length && i < 6; i++) {
    const b = message[i];
    len += (b & 0x7f) * scale;
    scale *= 0x80;
    if (b < 0x80) break;
  }
  i++;
  return i + len === message.length ? message.subarray(i) : null;
}

type Chunk = ModelChunk | UpdateChunk;
type Codec<T extends Chunk> = { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T };

/** Serializes a message object, or passes through a chunk already serialized with encodeDataChunkInto. */
const serialize =
  <T extends Chunk>(codec: Codec<T>) =>
  (value: T | Buffer): Buffer =>
    Buffer.isBuffer(value) ? value : Buffer.from(codec.encode(value).finish());

const deserialize =
  <T extends Chunk>(codec: Codec<T>) =>
  (message: Buffer): T => {
    const data = dataChunkView(message);
    return data ? ({ part: { $case: "data", value: data } } as T) : codec.decode(message);
  };

/** FederationService for grpc-js servers and clients; handlers may write pre-serialized data chunks (Buffers). */
export const ChunkedFederationService = {
  ...FederationService,
  downloadModel: { ...FederationService.downloadModel, responseSerialize: serialize(ModelChunk), responseDeserialize: deserialize(ModelChunk) },
  uploadUpdate: { ...FederationService.uploadUpdate, requestSerialize: serialize(UpdateChunk), requestDeserialize: deserialize(UpdateChunk) },
} as typeof FederationService;

/** The generated client's type, on ChunkedFederationService's codecs. */
export const ChunkedFederationClient = makeGenericClientConstructor(ChunkedFederationService, "fedfusion.v1.Federation") as unknown as typeof FederationClient;

/** Lets a handler or client write a pre-serialized chunk where the typed stream expects a message. */
export const preEncoded = <T>(chunk: Buffer): T => chunk as unknown as T;
