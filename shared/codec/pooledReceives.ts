/**
 * Received payload chunks assembled in reused memory instead of a fresh buffer per message.
 *
 * grpc-js reassembles every message it receives from its 16 KiB HTTP/2 DATA frames with Buffer.concat: a
 * fresh 1 MiB buffer per payload chunk. Each costs page faults on first touch and, once dropped, leaves
 * garbage outside V8's heap that brings a full collection every few tens of MB received — per MB moved, in
 * the coordinator for uploads and in a client for downloads. Here the decoder takes big messages' memory
 * from a small pool, and whoever has consumed a chunk (copied it into its assembly buffer) gives the memory
 * back with `releaseReceived`. A message nobody releases is simply collected, as before.
 *
 * The hook replaces one grpc-js internal, StreamDecoder.write (the gRPC length-prefixed framing: a flag
 * byte, a 4-byte big-endian length, the message; no public hook exists). Where it is missing (another
 * grpc-js), nothing changes and the caller is told.
 */
import { takeSpare } from "../spareBuffers.js";
import { grpcInternal } from "./grpcInternals.js";
import { GRPC_MESSAGE_PREFIX } from "./wireSize.js";

/** Messages at least this big (prefix included) are pooled: payload chunks, not headers or control messages. */
export const POOLED_MESSAGE_BYTES = 64 << 10;
/** Idle memory the pool keeps: a few chunks per transfer in flight. */
export const MAX_SPARE_BYTES = 16 << 20;

const spares: ArrayBuffer[] = [];
/** Pooled memory handed out in a message and not yet given back. */
const lent = new WeakSet<ArrayBuffer>();

function messageMemory(bytes: number): Buffer {
  if (bytes < POOLED_MESSAGE_BYTES) return Buffer.allocUnsafe(bytes);
  const memory = takeSpare(spares, bytes);
  lent.add(memory);
  return Buffer.from(memory, 0, bytes);
}

/**
 * Nothing reads the received message that `view` is part of any longer (its chunk was copied out): its
 * memory may hold a later message. Views of other memory are ignored, so any received chunk may be passed.
 */
export function releaseReceived(view: Uint8Array): void {
  const memory = view.buffer;
  if (!(memory instanceof ArrayBuffer) || !lent.has(memory)) return;
  lent.delete(memory);
  if (spareReceiveBytes() + memory.byteLength <= MAX_SPARE_BYTES) spares.push(memory);
}

/** Pooled memory idle now. */
export function spareReceiveBytes(): number {
  return spares.reduce((total, s) => total + s.byteLength, 0);
}

/** The decoder's state, kept on grpc-js's StreamDecoder instance (its own fields are left unused). */
interface Decoder {
  maxReadMessageLength: number;
  pooledHead?: Buffer;
  pooledHeadFilled?: number;
  pooledMessage?: Buffer | null;
  pooledFilled?: number;
}

/** StreamDecoder.write: the complete messages in `data` (with what came before), each with its 5-byte prefix. */
function write(this: Decoder, data: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (!this.pooledMessage) {
      const head = (this.pooledHead ??= Buffer.alloc(GRPC_MESSAGE_PREFIX));
      const filled = this.pooledHeadFilled ?? 0;
      const n = Math.min(GRPC_MESSAGE_PREFIX - filled, data.length - at);
      data.copy(head, filled, at, at + n);
      at += n;
      this.pooledHeadFilled = filled + n;
      if (this.pooledHeadFilled < GRPC_MESSAGE_PREFIX) break;
      this.pooledHeadFilled = 0;
      const size = head.readUInt32BE(1);
      if (this.maxReadMessageLength !== -1 && size > this.maxReadMessageLength) {
        throw new Error(`Received message larger than max (${size} vs ${this.maxReadMessageLength})`);
      }
      this.pooledMessage = messageMemory(GRPC_MESSAGE_PREFIX + size);
      head.copy(this.pooledMessage, 0);
      this.pooledFilled = GRPC_MESSAGE_PREFIX;
    }
    const message = this.pooledMessage;
    const n = Math.min(message.length - this.pooledFilled!, data.length - at);
    data.copy(message, this.pooledFilled!, at, at + n);
    at += n;
    this.pooledFilled! += n;
    if (this.pooledFilled === message.length) {
      messages.push(message);
      this.pooledMessage = null;
    }
  }
  return messages;
}

let installed: boolean | undefined;

/** Once per process; false when this grpc-js lacks the internal it replaces. */
export function installPooledReceives(): boolean {
  if (installed === undefined) {
    const proto = grpcInternal<{ StreamDecoder?: { prototype: { write?: unknown } } }>("stream-decoder.js")?.StreamDecoder?.prototype;
    installed = typeof proto?.write === "function";
    if (installed) proto!.write = write;
  }
  return installed;
}
