/**
 * Payload chunks sent without grpc-js copying them.
 *
 * grpc-js copies every message it sends into a fresh buffer behind the 5-byte gRPC prefix: the server in
 * BaseServerInterceptingCall.serializeMessage, a client in its identity CompressionHandler.writeMessage. For
 * the model's chunks (serialized once per version, sent to every client of the round) and an update's chunks
 * (1 MiB each) that copy — and the 1 MiB allocation each time, which keeps V8's collector busy — is paid per
 * MB sent. `installFramedSends` makes grpc-js send two kinds of message as they are:
 * - a framed message, built with its prefix already in place in front of it (the coordinator's cached model);
 * - the writes of dataChunkWrites, which together make one message whose data stays where the caller has it
 *   (a client's update: its bytes go from the encoded tensors to the socket with no copy at all).
 *
 * The hooks reach one grpc-js internal per side (no public one exists). Where it is missing (another
 * grpc-js), nothing changes — messages are copied as before — and the caller is told. A client that
 * compresses its messages uses another handler, which is left alone; grpc-js servers do not compress.
 */
import { encodeDataChunkInto, writeDataChunkHead } from "./chunkMessages.js";
import { grpcInternal } from "./grpcInternals.js";
import { chunkMessageBytes, dataChunkBytes, GRPC_MESSAGE_PREFIX } from "./wireSize.js";

/** Message views whose 5 bytes before them hold their gRPC prefix. */
const framed = new WeakSet<Buffer>();
/** Writes whose bytes go out exactly as they are: the parts of one message (dataChunkWrites). */
const asIs = new WeakSet<Buffer>();

/** A message of `bytes` bytes written by `write` into `out` at `offset`, behind its gRPC prefix (uncompressed, length); a view of the message. */
function frameInto(out: Buffer, offset: number, bytes: number, write: (at: number) => void): Buffer {
  out.writeUInt8(0, offset);
  out.writeUInt32BE(bytes, offset + 1);
  write(offset + GRPC_MESSAGE_PREFIX);
  const view = out.subarray(offset + GRPC_MESSAGE_PREFIX, offset + GRPC_MESSAGE_PREFIX + bytes);
  framed.add(view);
  return view;
}

/** A copy of a serialized message, framed. */
export function framedMessage(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(GRPC_MESSAGE_PREFIX + message.byteLength);
  return frameInto(out, 0, message.byteLength, (at) => out.set(message, at));
}

/** A payload chunk serialized as a data-chunk message (encodeDataChunkInto), framed, in memory of its own. */
export function framedDataChunk(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(chunkMessageBytes(data.byteLength));
  return frameInto(out, 0, dataChunkBytes(data.byteLength), (at) => encodeDataChunkInto(data, out, at));
}

/**
 * One data-chunk message whose data is `pieces` (views of the payload, e.g. chunkPieces), as writes that
 * send every byte where it is: first its gRPC prefix and field header (a few bytes of their own), then each
 * piece. grpc-js takes each write for a message of its own, and only the installed hook sends one without
 * putting a prefix in front: call this only where installFramedSends returned true. The pieces' memory is
 * read by the socket after the writes return: it must not change until the call has ended.
 */
export function dataChunkWrites(pieces: readonly Uint8Array[]): Buffer[] {
  const dataBytes = pieces.reduce((n, p) => n + p.byteLength, 0);
  const head = Buffer.allocUnsafe(GRPC_MESSAGE_PREFIX + dataChunkBytes(dataBytes) - dataBytes);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(dataChunkBytes(dataBytes), 1);
  writeDataChunkHead(dataBytes, head, GRPC_MESSAGE_PREFIX);
  const writes = [head, ...pieces.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))];
  for (const w of writes) asIs.add(w);
  return writes;
}

/** What grpc-js must send for `value`: the framed message's memory with its prefix, an as-is write itself, or null for any other message. */
function wireBytes(value: unknown): Buffer | null {
  if (!Buffer.isBuffer(value)) return null;
  if (asIs.has(value)) return value;
  if (!framed.has(value)) return null;
  return Buffer.from(value.buffer, value.byteOffset - GRPC_MESSAGE_PREFIX, value.byteLength + GRPC_MESSAGE_PREFIX);
}

interface Hooked {
  [method: string]: unknown;
}

/** Wraps `proto[method]` to send framed messages as they are. */
function hook(proto: Hooked | undefined, method: string, wrap: (copying: (...a: unknown[]) => unknown) => (...a: unknown[]) => unknown): boolean {
  const copying = proto?.[method];
  if (proto === undefined || typeof copying !== "function") return false;
  proto[method] = wrap(copying as (...a: unknown[]) => unknown);
  return true;
}

function installServer(): boolean {
  const internals = grpcInternal<{ BaseServerInterceptingCall?: { prototype: Hooked } }>("server-interceptors.js");
  return hook(internals?.BaseServerInterceptingCall?.prototype, "serializeMessage", (copying) =>
    function (this: unknown, value: unknown) {
      return wireBytes(value) ?? copying.call(this, value);
    },
  );
}

function installClient(): boolean {
  const internals = grpcInternal<{ CompressionFilter?: new (options: object, shared: object) => { sendCompression?: object } }>("compression-filter.js");
  let identity: Hooked | undefined;
  try {
    // A new filter's send handler is the identity one (no compression negotiated yet); its class is not exported.
    const handler = internals?.CompressionFilter && new internals.CompressionFilter({}, {}).sendCompression;
    identity = handler ? (Object.getPrototypeOf(handler) as Hooked) : undefined;
  } catch {
    return false;
  }
  return hook(identity, "writeMessage", (copying) =>
    async function (this: unknown, message: unknown, compress: unknown) {
      return wireBytes(message) ?? copying.call(this, message, compress);
    },
  );
}

const installed: Partial<Record<"server" | "client", boolean>> = {};

/** Once per process and side; false when this grpc-js lacks the internal it patches. */
export function installFramedSends(side: "server" | "client"): boolean {
  return (installed[side] ??= side === "server" ? installServer() : installClient());
}
