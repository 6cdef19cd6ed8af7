/**
 * Sends the cached model's messages without copying them.
 *
 * grpc-js's server copies every message it sends into a fresh buffer behind the 5-byte gRPC prefix
 * (BaseServerInterceptingCall.serializeMessage). The global model's chunks are serialized once per version
 * and sent to every client of the round, so that copy — and the 1 MiB allocation each time, which keeps V8's
 * collector busy — is paid per client per MB. `framedMessage` builds a message with its prefix already in
 * place in front of it; `installFramedSends` makes grpc-js send such a message as the view it already is.
 *
 * The hook reaches one grpc-js internal (no public one exists). Where it is missing (another grpc-js),
 * nothing changes — messages are copied as before — and the caller is told. Response compression, which
 * would change the prefix, is not supported by grpc-js servers.
 */
import { createRequire } from "node:module";
import { encodeDataChunkInto } from "../../shared/codec/chunkMessages.js";
import { dataChunkBytes, GRPC_MESSAGE_PREFIX } from "../../shared/codec/wireSize.js";

/** Message views whose 5 bytes before them hold their gRPC prefix. */
const framed = new WeakSet<Buffer>();

/** A message of `bytes` bytes written by `write` behind its gRPC prefix (uncompressed, length), as a view of the message. */
function frame(bytes: number, write: (frame: Buffer, offset: number) => void): Buffer {
  const f = Buffer.allocUnsafe(GRPC_MESSAGE_PREFIX + bytes);
  f.writeUInt8(0, 0);
  f.writeUInt32BE(bytes, 1);
  write(f, GRPC_MESSAGE_PREFIX);
  const view = f.subarray(GRPC_MESSAGE_PREFIX);
  framed.add(view);
  return view;
}

/** A copy of a serialized message, framed. */
export function framedMessage(message: Uint8Array): Buffer {
  return frame(message.byteLength, (f, offset) => f.set(message, offset));
}

/** A payload chunk serialized as a data-chunk message (encodeDataChunkInto), framed. */
export function framedDataChunk(data: Uint8Array): Buffer {
  return frame(dataChunkBytes(data.byteLength), (f, offset) => encodeDataChunkInto(data, f, offset));
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

let installed: boolean | undefined;

/** Once per process; false when this grpc-js lacks the internal it patches. */
export function installFramedSends(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let proto: SerializingCall | undefined;
  try {
    const internals = createRequire(import.meta.url)("@grpc/grpc-js/build/src/server-interceptors.js") as {
      BaseServerInterceptingCall?: { prototype: SerializingCall };
    };
    proto = internals.BaseServerInterceptingCall?.prototype;
  } catch {
    return installed;
  }
  if (proto === undefined || typeof proto.serializeMessage !== "function") return installed;
  const copying = proto.serializeMessage;
  proto.serializeMessage = function (this: SerializingCall, value: unknown): Buffer {
    if (Buffer.isBuffer(value) && framed.has(value)) {
      return Buffer.from(value.buffer, value.byteOffset - GRPC_MESSAGE_PREFIX, value.byteLength + GRPC_MESSAGE_PREFIX);
    }
    return copying.call(this, value);
  };
  installed = true;
  return installed;
}
