/** ModelSpec between its domain form and the wire message, validated once on the way in. */
import type { ModelSpec as WireModelSpec } from "../generated/fedfusion/v1/federation.js";
import { modelFingerprint } from "../model/fingerprint.js";
import type { FusionConfig, ModelSpec } from "../model/modelSpec.js";

export function modelSpecToWire(spec: ModelSpec, parameterCount: number): WireModelSpec {
  return {
    architecture: spec.architecture,
    fingerprint: modelFingerprint(spec),
    inputShape: [...spec.inputShape],
    classNames: [...spec.classNames],
    parameterCount,
    configJson: spec.fusion ? JSON.stringify(spec.fusion) : "",
  };
}

/**
 * Throws an Error with a one-line message when the message is malformed. With `partial` (a joining client's
 * request) architecture and input shape may be left empty, meaning "whatever the federation runs".
 */
export function modelSpecFromWire(w: WireModelSpec | undefined, partial = false): ModelSpec {
  if (!w) throw new Error("model spec is missing");
  if (!w.architecture && !partial) throw new Error("model spec has no architecture");
  const shapeGiven = w.inputShape.length > 0 || !partial;
  if (shapeGiven && (w.inputShape.length !== 3 || w.inputShape.some((d) => !(d > 0)))) {
    throw new Error(`model input shape [${w.inputShape.join(", ")}] is not H, W, C`);
  }
  let fusion: FusionConfig | undefined;
  if (w.configJson) {
    try {
      fusion = JSON.parse(w.configJson) as FusionConfig;
    } catch {
      throw new Error("model config_json is not valid JSON");
    }
  }
  const spec: ModelSpec = {
    architecture: w.architecture,
    inputShape: shapeGiven ? [w.inputShape[0], w.inputShape[1], w.inputShape[2]] : ([] as unknown as ModelSpec["inputShape"]),
    classNames: [...w.classNames],
  };
  if (fusion) spec.fusion = fusion;
  return spec;
}
