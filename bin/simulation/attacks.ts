/**
 * Byzantine clients for robustness experiments: a malicious simulated client trains honestly, then
 * tampers with its delta before sending it. Only `simulate` can create them (`--byzantine N --attack ...`).
 */
import { UserError } from "../../shared/errors.js";

export type Attack = { kind: "scale"; factor: number } | { kind: "signflip"; factor: number };

export function parseAttack(s: string): Attack {
  const [kind, arg] = s.split(":");
  const factor = arg === undefined ? undefined : Number(arg);
  if (arg !== undefined && !Number.isFinite(factor)) throw new UserError(`--attack ${s}: '${arg}' is not a number`);
  if (kind === "scale") return { kind, factor: factor ?? 100 };
  if (kind === "signflip") return { kind, factor: Math.abs(factor ?? 1) };
  throw new UserError(`unknown attack '${s}': expected scale:<factor> or signflip[:<factor>]`);
}

/** The tampered update: delta × factor (scale) or delta × −factor (sign flip). */
export function applyAttack(attack: Attack, delta: Float32Array[]): Float32Array[] {
  const k = attack.kind === "scale" ? attack.factor : -attack.factor;
  return delta.map((layer) => layer.map((v) => v * k));
}
