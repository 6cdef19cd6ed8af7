/**
 * Checks one client's update (its delta from the global weights) before it is aggregated: layer count,
 * layer sizes, finite values and, optionally, a bound on its global L2 norm. Pure; one pass over the data.
 */
import { sumOfSquares } from "../../shared/updateNorm.js";

export type RejectionReason = "layer-count" | "shape" | "non-finite" | "norm";

export type UpdateValidation =
  | { ok: true; /** Global L2 norm of the delta over all layers. */ norm: number }
  | { ok: false; reason: RejectionReason; /** A short human sentence. */ detail: string };

export interface ExpectedModel {
  /** Shape of every layer, in order; a layer holds the product of its dims values ([] = a scalar). */
  shapes: number[][];
}

export interface UpdateLimits {
  /** Reject updates whose global L2 norm exceeds this (≥ 0); undefined = no bound. */
  maxNorm?: number;
}

export function validateUpdate(delta: Float32Array[], expected: ExpectedModel, limits: UpdateLimits = {}): UpdateValidation {
  const { shapes } = expected;
  const { maxNorm } = limits;
  if (maxNorm !== undefined && !(maxNorm >= 0)) throw new RangeError(`maxNorm must be a number ≥ 0, got ${maxNorm}`);

  if (delta.length !== shapes.length) {
    return { ok: false, reason: "layer-count", detail: `update has ${delta.length} layers, expected ${shapes.length}` };
  }
  for (let l = 0; l < shapes.length; l++) {
    const size = shapes[l].reduce((a, b) => a * b, 1);
    if (delta[l].length !== size) {
      return {
        ok: false,
        reason: "shape",
        detail: `layer ${l} has ${delta[l].length} values, expected ${size} (shape [${shapes[l].join(", ")}])`,
      };
    }
  }

  // The sum of squares, in double precision, stays finite exactly when every value is finite
  // (float32 values square to at most ~1.2e77), so one pass checks both.
  let total = 0;
  for (let l = 0; l < delta.length; l++) {
    const sumsq = sumOfSquares(delta[l]);
    if (!Number.isFinite(sumsq)) {
      const j = delta[l].findIndex((x) => !Number.isFinite(x));
      return { ok: false, reason: "non-finite", detail: `layer ${l} value ${j} is ${delta[l][j]}` };
    }
    total += sumsq;
  }
  const norm = Math.sqrt(total);
  if (maxNorm !== undefined && norm > maxNorm) {
    return { ok: false, reason: "norm", detail: `update L2 norm ${formatNorm(norm, maxNorm)} exceeds the limit ${maxNorm}` };
  }
  return { ok: true, norm };
}

/** The norm with 4 significant digits, or all of them when 4 would not show that it exceeds the limit. */
function formatNorm(norm: number, limit: number): string {
  const short = Number(norm.toPrecision(4));
  return String(short > limit ? short : norm);
}
