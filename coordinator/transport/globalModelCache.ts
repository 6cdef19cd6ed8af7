import { encodeDataChunk } from "../../shared/codec/chunkMessages.js";
import { chunkPayload, encodePayload } from "../../shared/codec/payload.js";
import type { PayloadManifest } from "../../shared/generated/fedfusion/v1/federation.js";
import type { WeightSpec } from "../../shared/model/weights.js";

export interface CachedModel {
  manifest: PayloadManifest;
  /** The payload's data chunks, serialized once (encodeDataChunk) for every download of this version. */
  chunks: Buffer[];
}

/**
 * The encoded global model of the current version, built once and served to every client of the round:
 * each download writes the same serialized chunks (one model-sized copy per version, instead of
 * serializing — copying — every chunk again for every client).
 */
export class GlobalModelCache {
  private cached: ({ version: number } & CachedModel) | null = null;

  constructor(private readonly specs: readonly WeightSpec[]) {}

  get(version: number, weights: () => readonly Float32Array[]): CachedModel {
    if (this.cached?.version !== version) {
      this.cached = null; // let the previous version go before building this one
      const w = weights();
      const payload = encodePayload(this.specs.map((s, i) => ({ ...s, values: w[i] })));
      // Only the manifest and the serialized copies are kept: the payload's parts are views of the
      // global weights, which the next round overwrites.
      this.cached = { version, manifest: payload.manifest, chunks: [...chunkPayload(payload.parts)].map(encodeDataChunk) };
    }
    return this.cached;
  }
}
