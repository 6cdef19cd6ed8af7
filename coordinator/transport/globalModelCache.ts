import { chunkPayload, encodePayload } from "../../shared/codec/payload.js";
import { Encoding, ModelChunk } from "../../shared/generated/fedfusion/v1/federation.js";
import { framedDataChunk, framedMessage } from "../../shared/codec/framedSends.js";
import type { WeightSpec } from "../../shared/model/weights.js";

export interface CachedModel {
  /** The stream's first message, `{ header: { modelVersion, manifest } }`, serialized once. */
  header: Buffer;
  /** The payload's data chunks, serialized once for every download of this version, framed (shared/codec/framedSends.ts). */
  chunks: Buffer[];
}

/**
 * The encoded global model of the current version, built once and served to every client of the round:
 * each download writes the same serialized chunks (one model-sized copy per version, instead of
 * serializing — copying — every chunk again for every client).
 */
export class GlobalModelCache {
  private cached: ({ version: number } & CachedModel) | null = null;

  /** `encoding`: how this cache's clients receive the weights (float32, or rounded to float16 or int8). */
  constructor(
    private readonly specs: readonly WeightSpec[],
    private readonly encoding = Encoding.ENCODING_FLOAT32,
  ) {}

  get(version: number, weights: () => readonly Float32Array[]): CachedModel {
    if (this.cached?.version !== version) {
      this.cached = null; // let the previous version go before building this one
      const w = weights();
      const payload = encodePayload(this.specs.map((s, i) => ({ ...s, values: w[i] })), this.encoding);
      // Only the serialized messages are kept: a float32 payload's parts are views of the global weights,
      // which the next round overwrites.
      const header = ModelChunk.encode({ part: { $case: "header", value: { modelVersion: version, manifest: payload.manifest } } }).finish();
      // Framed (shared/codec/framedSends.ts): sent to every client without grpc-js copying them each time.
      this.cached = { version, header: framedMessage(header), chunks: [...chunkPayload(payload.parts)].map((c) => framedDataChunk(c)) };
    }
    return this.cached;
  }
}
