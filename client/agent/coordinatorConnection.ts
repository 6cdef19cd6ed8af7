/**
 * The client's side of the wire: promise-returning calls on the Federation service, the model download
 * reassembled and verified (CRC-32C) and the update upload chunked with backpressure.
 */
import * as grpc from "@grpc/grpc-js";
import { ChunkedFederationClient, preEncoded } from "../../shared/codec/chunkMessages.js";
import { dataChunkWrites, installFramedSends } from "../../shared/codec/framedSends.js";
import { chunkPayload, chunkPieces, decodeRegions, PayloadAssembler, type EncodedPayload, type NamedTensor } from "../../shared/codec/payload.js";
import { installPooledReceives, releaseReceived } from "../../shared/codec/pooledReceives.js";
import { keepFreedMemory } from "../../shared/keepFreedMemory.js";
import {
  type FederationClient,
  type EvaluationReport,
  type PayloadManifest,
  type JoinRequest,
  type JoinResponse,
  type Task,
  type UpdateChunk,
  type UpdateHeader,
  type UploadAck,
} from "../../shared/generated/fedfusion/v1/federation.js";
import { parameterCount, type WeightSpec } from "../../shared/model/weights.js";

export interface ConnectionOptions {
  address: string;
  /** PEM files for TLS; without them the channel is plaintext. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Extra grpc-js channel options (e.g. a connection of its own per client in a simulation). */
  channelOptions?: grpc.ChannelOptions;
}

const deadline = (ms: number) => new Date(Date.now() + ms);

/** The client's HTTP/2 receive window: a few chunks instead of HTTP/2's 64 KiB (model downloads run ~1.6x faster). */
export const DOWNLOAD_WINDOW_BYTES = 4 << 20;

export class CoordinatorConnection {
  private readonly client: FederationClient;
  /** Whether uploads may send their chunks' bytes where they are (dataChunkWrites); else grpc-js serializes them. */
  private readonly sendsAsIs: boolean;

  constructor(o: ConnectionOptions) {
    // Where this grpc-js allows: downloads arrive in reused memory, uploads leave without a copy per chunk;
    // freed memory stays with the process rather than being faulted in again per transfer.
    installPooledReceives();
    this.sendsAsIs = installFramedSends("client");
    keepFreedMemory();
    const creds = o.tls ? grpc.credentials.createSsl(o.tls.ca ?? null, o.tls.key ?? null, o.tls.cert ?? null) : grpc.credentials.createInsecure();
    this.client = new ChunkedFederationClient(o.address, creds, {
      "grpc.max_receive_message_length": 16 << 20,
      "grpc-node.flow_control_window": DOWNLOAD_WINDOW_BYTES,
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": 250,
      "grpc.max_reconnect_backoff_ms": 5_000,
      ...o.channelOptions,
    });
  }

  join(request: JoinRequest): Promise<JoinResponse> {
    return new Promise((resolve, reject) =>
      this.client.join(request, new grpc.Metadata(), { deadline: deadline(15_000) }, (e, r) => (e ? reject(e) : resolve(r))),
    );
  }

  getTask(sessionId: string, waitMs: number): Promise<Task> {
    return new Promise((resolve, reject) =>
      this.client.getTask({ sessionId, waitMs }, new grpc.Metadata(), { deadline: deadline(waitMs + 15_000) }, (e, r) => (e ? reject(e) : resolve(r))),
    );
  }

  /**
   * Downloads one model version; rejects if the payload does not match the expected layout or digest.
   * `buffer`: where to assemble it, `space`: where to decode it when it travels rounded (float16, int8), room
   * for all of `expected`'s values (see DownloadBuffers); by default new memory.
   */
  downloadModel(
    sessionId: string,
    modelVersion: number,
    expected: readonly WeightSpec[],
    federatedOnly: boolean,
    timeoutMs: number,
    buffer?: (bytes: number) => Uint8Array,
    space?: (elements: number) => Float32Array,
  ): Promise<NamedTensor[]> {
    const maxBytes = 4 * parameterCount(expected);
    return new Promise((resolve, reject) => {
      const call = this.client.downloadModel({ sessionId, modelVersion, federatedOnly }, new grpc.Metadata(), { deadline: deadline(timeoutMs) });
      let assembler: PayloadAssembler | null = null;
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        call.cancel();
        reject(e);
      };
      call.on("data", (chunk: { part?: { $case: "header"; value: { manifest?: PayloadManifest } } | { $case: "data"; value: Buffer } }) => {
        try {
          const part = chunk.part;
          if (part?.$case === "header") {
            if (!part.value.manifest) throw new Error("model header has no manifest");
            assembler = new PayloadAssembler(part.value.manifest, expected, maxBytes, buffer, space && decodeRegions(() => space(maxBytes / 4)));
          } else if (part?.$case === "data") {
            if (!assembler) throw new Error("model data arrived before its header");
            assembler.push(part.value);
            releaseReceived(part.value); // copied: the message's memory takes the next one
          }
        } catch (e) {
          fail(e);
        }
      });
      call.on("error", fail);
      call.on("end", () => {
        if (failed) return;
        try {
          if (!assembler) throw new Error("model stream ended without a header");
          resolve(assembler.finish());
        } catch (e) {
          fail(e);
        }
      });
    });
  }

  /** Streams header + payload chunks; resolves with the coordinator's verdict. */
  uploadUpdate(header: UpdateHeader, payload: EncodedPayload, timeoutMs: number): Promise<UploadAck> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const call = this.client.uploadUpdate(new grpc.Metadata(), { deadline: deadline(timeoutMs) }, (e, ack) => {
        settled = true;
        if (e) reject(e);
        else resolve(ack);
      });
      call.on("error", () => undefined); // reported through the callback
      call.write({ part: { $case: "header", value: { ...header, manifest: payload.manifest } } });
      const writes = this.chunkWrites(payload.parts);
      const pump = () => {
        for (let next = writes.next(); !next.done; next = writes.next()) {
          if (settled) return; // the coordinator answered early (rejected): stop sending
          if (!call.write(next.value)) return void call.once("drain", pump);
        }
        call.end();
      };
      pump();
    });
  }

  /**
   * The upload's data chunks as call writes. Where the hook is installed, each chunk is a few bytes of header
   * followed by its pieces of the encoded tensors themselves: no copy of the payload in the client, and no
   * memory for one. (Before: each chunk was copied into a reused buffer behind its header, which also kept a
   * payload's worth of memory from upload to upload; before that, a fresh 1 MiB buffer per chunk made V8 run
   * full collections every few tens of MB sent.) The payload's memory is read by the socket after the writes
   * return, so the caller leaves it unchanged until the upload has settled, as it does.
   */
  private *chunkWrites(parts: readonly Uint8Array[]): Generator<UpdateChunk> {
    if (!this.sendsAsIs) {
      for (const data of chunkPayload(parts)) yield { part: { $case: "data", value: Buffer.from(data.buffer, data.byteOffset, data.byteLength) } };
      return;
    }
    for (const pieces of chunkPieces(parts)) for (const w of dataChunkWrites(pieces)) yield preEncoded<UpdateChunk>(w);
  }

  reportEvaluation(report: EvaluationReport): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.reportEvaluation(report, new grpc.Metadata(), { deadline: deadline(15_000) }, (e) => (e ? reject(e) : resolve())),
    );
  }

  heartbeat(sessionId: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.heartbeat({ sessionId }, new grpc.Metadata(), { deadline: deadline(10_000) }, (e) => (e ? reject(e) : resolve())),
    );
  }

  leave(sessionId: string, reason: string): Promise<void> {
    return new Promise((resolve) =>
      this.client.leave({ sessionId, reason }, new grpc.Metadata(), { deadline: deadline(3_000) }, () => resolve()),
    );
  }

  close(): void {
    this.client.close();
  }
}
