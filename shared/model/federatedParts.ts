/**
 * Partial federation: which of a model's weights are trained locally and exchanged. The rest stay frozen
 * at their initial values (e.g. a stem pretrained elsewhere and loaded with --init-model), which also keeps
 * them off the wire.
 *   all     — every weight;
 *   encoder — fusion: everything after the CNN stem (token projection, encoder, head);
 *             cnn/large: the dense layers (everything after the convolutions);
 *   head    — the classifier alone.
 */
import { UserError } from "../errors.js";
import type { WeightSpec } from "./weights.js";

export const FEDERATE_MODES = ["all", "encoder", "head"] as const;
export type FederateMode = (typeof FEDERATE_MODES)[number];

export function parseFederateMode(s: string): FederateMode {
  if ((FEDERATE_MODES as readonly string[]).includes(s)) return s as FederateMode;
  throw new UserError(`unknown federate mode '${s}': expected one of ${FEDERATE_MODES.join(", ")}`);
}

export function isFederatedLayer(layerName: string, mode: FederateMode): boolean {
  switch (mode) {
    case "all":
      return true;
    case "head":
      return layerName === "classifier";
    case "encoder":
      return !/^(stem_|conv\d|pool\d)/.test(layerName);
  }
}

/** Positions (in model order) of the weights that are federated under this mode. */
export function federatedIndices(specs: readonly WeightSpec[], mode: FederateMode): number[] {
  const out: number[] = [];
  specs.forEach((s, i) => {
    if (isFederatedLayer(s.name.slice(0, s.name.indexOf("/")), mode)) out.push(i);
  });
  return out;
}

/** `full` with the federated positions replaced by `federated` (same order as `indices`). */
export function mergeFederated(full: readonly Float32Array[], indices: readonly number[], federated: readonly Float32Array[]): Float32Array[] {
  const out = [...full];
  indices.forEach((idx, k) => (out[idx] = federated[k]));
  return out;
}
