import { encodePayload, type EncodedPayload } from "../../shared/codec/payload.js";
import type { WeightSpec } from "../../shared/model/weights.js";

/**
 * The encoded global model of the current version, built once and served to every client of the round
 * (each download streams views onto the same bytes).
 */
export class GlobalModelCache {
  private cached: { version: number; payload: EncodedPayload } | null = null;

  constructor(private readonly specs: readonly WeightSpec[]) {}

  get(version: number, weights: () => readonly Float32Array[]): EncodedPayload {
    if (this.cached?.version !== version) {
      const w = weights();
      const tensors = this.specs.map((s, i) => ({ ...s, values: w[i] }));
      this.cached = { version, payload: encodePayload(tensors) };
    }
    return this.cached.payload;
  }
}
