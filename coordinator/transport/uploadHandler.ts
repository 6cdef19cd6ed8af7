/**
 * One UploadUpdate call: header first (admitted by the state machine before any bytes are taken), then
 * payload chunks into a PayloadAssembler, then decode, verify and hand the update to the state machine.
 * A problem with the payload is answered as a rejection (counted in the round's metrics), not a crash.
 */
import * as grpc from "@grpc/grpc-js";
import { decodeRegions, PayloadAssembler } from "../../shared/codec/payload.js";
import { releaseReceived } from "../../shared/codec/pooledReceives.js";
import { chunkMessageBytes, GRPC_MESSAGE_PREFIX } from "../../shared/codec/wireSize.js";
import { UpdateChunk, type UpdateHeader, type UploadAck } from "../../shared/generated/fedfusion/v1/federation.js";
import { parameterCount, type WeightSpec } from "../../shared/model/weights.js";
import type { RoundStateMachine } from "../rounds/roundStateMachine.js";
import type { UploadGate, UploadSlot } from "./uploadGate.js";
import type { UploadWindows } from "./receiveWindow.js";

export interface UploadDeps {
  machine: RoundStateMachine;
  /** The tensors an update must carry, in order. */
  specs: WeightSpec[];
  maxBytes: number;
  gate: UploadGate;
  /** Opens an admitted upload's HTTP/2 window (a waiting one may send only 64 KiB); absent: windows stay as set. */
  windows?: UploadWindows;
  fail: (code: grpc.status, details: string) => grpc.ServiceError;
  /** Why a session may not call (unknown, or closed), or null when it may. */
  sessionError: (sessionId: string) => grpc.ServiceError | null;
}

export function handleUpload(
  call: grpc.ServerReadableStream<UpdateChunk, UploadAck>,
  callback: grpc.sendUnaryData<UploadAck>,
  d: UploadDeps,
): void {
  const { machine } = d;
  readNothingAhead(call);
  let header: UpdateHeader | null = null;
  let assembler: PayloadAssembler | null = null;
  let slot: UploadSlot | null = null;
  let narrow: (() => void) | undefined;
  let answered = false;
  let bytes = 0;
  /** False once the decoded update went to a strategy that keeps it: the buffer is not reused then. */
  let bufferFree = true;

  const finish = (error: grpc.ServiceError | null, ack?: UploadAck) => {
    if (answered) return;
    answered = true;
    narrow?.();
    slot?.release(bufferFree);
    assembler = null;
    callback(error, ack);
  };
  const answer = (accepted: boolean, reason = "") => finish(null, { accepted, reason });
  const rejectPayload = (sessionId: string, e: unknown) => {
    const detail = (e as Error).message;
    machine.rejectUpload(sessionId, "payload", detail);
    answer(false, `payload: ${detail}`);
  };

  const onHeader = async (h: UpdateHeader, message: UpdateChunk) => {
    header = h;
    const refused = d.sessionError(h.sessionId);
    if (refused) return finish(refused);
    const admitted = machine.admitUpload(h.sessionId, h.round, h.baseModelVersion);
    if (!admitted.accepted) return answer(false, `${admitted.reason}: ${admitted.detail}`);
    if (!h.manifest) return rejectPayload(h.sessionId, new Error("update header has no manifest"));
    call.pause();
    slot = await d.gate.acquire();
    if (answered) return slot.release(true);
    narrow = d.windows?.widen(call);
    try {
      // A lossy update decodes into the slot's reused space, sized for the whole model.
      const acquired = slot;
      assembler = new PayloadAssembler(h.manifest, d.specs, d.maxBytes, acquired.buffer, decodeRegions(() => acquired.decodeSpace(parameterCount(d.specs))));
    } catch (e) {
      return rejectPayload(h.sessionId, e);
    }
    bytes += GRPC_MESSAGE_PREFIX + UpdateChunk.encode(message).finish().length;
    call.resume();
  };

  call.on("data", (message: UpdateChunk) => {
    if (answered) return;
    const part = message.part;
    if (!header) {
      if (part?.$case !== "header") return finish(d.fail(grpc.status.INVALID_ARGUMENT, "the first upload message must be the header"));
      void onHeader(part.value, message);
      return;
    }
    if (part?.$case !== "data" || !assembler) return finish(d.fail(grpc.status.INVALID_ARGUMENT, "only one upload header is allowed"));
    try {
      assembler.push(part.value);
      bytes += chunkMessageBytes(part.value.byteLength);
    } catch (e) {
      rejectPayload(header.sessionId, e);
    } finally {
      releaseReceived(part.value); // copied into the assembly buffer: the message's memory takes the next one
    }
  });

  call.on("end", () => {
    if (answered) return;
    if (!header || !assembler) return finish(d.fail(grpc.status.INVALID_ARGUMENT, "upload ended before its payload"));
    let delta: Float32Array[];
    try {
      delta = assembler.finish().map((t) => t.values);
    } catch (e) {
      return rejectPayload(header.sessionId, e);
    }
    machine.recordTransfer("up", bytes);
    bufferFree = !machine.keepsUpdates;
    const m = header.metrics;
    const verdict = machine.submitUpdate(header.sessionId, {
      round: header.round,
      baseModelVersion: header.baseModelVersion,
      numExamples: header.numExamples,
      metrics: { loss: m?.loss ?? NaN, accuracy: m?.accuracy ?? NaN, steps: m?.steps ?? 0, trainMillis: m?.trainMillis ?? 0, skippedFiles: m?.skippedFiles ?? 0 },
      delta,
    });
    answer(verdict.accepted, verdict.accepted ? "" : `${verdict.reason}: ${verdict.detail}`);
  });

  // A client that goes away mid-upload frees its slot and buffer.
  call.on("error", () => finish(null, { accepted: false, reason: "stream failed" }));
  call.on("cancelled", () => finish(null, { accepted: false, reason: "cancelled" }));
}

/**
 * grpc-js's request stream is an object-mode Readable, which reads up to 16 messages ahead (its default
 * high-water mark) even while paused: an upload waiting at the gate would take in 16 MiB of its chunks, and
 * HTTP/2 flow control would let its client send them. With no read-ahead, a paused upload reads nothing more
 * and its client stops at the stream's window (64 KiB while it waits, receiveWindow.ts).
 */
function readNothingAhead(call: object): void {
  const state = (call as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state && typeof state.highWaterMark === "number") state.highWaterMark = 0;
}
