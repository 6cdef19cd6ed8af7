import { createHash } from "node:crypto";
import type { ModelSpec } from "./modelSpec.js";

/**
 * A short digest of everything two parties must agree on to exchange weights: architecture and its knobs,
 * input shape and class list (order matters: it is the label encoding). The weight layout follows from these.
 */
export function modelFingerprint(spec: ModelSpec): string {
  const canonical = JSON.stringify({
    architecture: spec.architecture,
    fusion: spec.fusion ?? null,
    inputShape: spec.inputShape,
    classNames: spec.classNames,
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/**
 * Why a client's model cannot join the federation, in one line, or null when it can. A client may lack some
 * of the federation's classes (its labels map onto the federation's list) but may not bring unknown ones.
 * An empty architecture or input shape means the client takes whatever the federation runs.
 */
export function joinMismatch(federation: ModelSpec, client: ModelSpec): string | null {
  if (client.architecture && federation.architecture !== client.architecture) {
    return `model '${client.architecture}' does not match the federation's model '${federation.architecture}'`;
  }
  if (client.inputShape.length > 0 && federation.inputShape.join("x") !== client.inputShape.join("x")) {
    return `input shape ${client.inputShape.join("x")} does not match the federation's ${federation.inputShape.join("x")}`;
  }
  if (client.architecture && JSON.stringify(federation.fusion ?? null) !== JSON.stringify(client.fusion ?? null)) {
    return `model settings ${JSON.stringify(client.fusion)} do not match the federation's ${JSON.stringify(federation.fusion)}`;
  }
  const unknown = client.classNames.filter((c) => !federation.classNames.includes(c));
  if (unknown.length > 0) {
    return `classes [${unknown.join(", ")}] are not in the federation's class list [${federation.classNames.join(", ")}]`;
  }
  return null;
}
