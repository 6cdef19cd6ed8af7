/**
 * The Gaussian mechanism's two halves, for the coordinator's (dpfedavg) and a site's (local) privacy: the clip
 * that bounds what one update can carry, and the standard normal draws of its noise, from the operating
 * system's CSPRNG as a deployment needs (noise an observer could predict protects nothing) or from a seed, for
 * simulations that must be reproducible.
 */
import { randomFillSync } from "node:crypto";
import { Random } from "../random.js";

export type Normals = () => number;

export function seededNormals(seed: number): Normals {
  const rng = new Random(seed);
  return () => rng.normal();
}

/** Box–Muller over uniforms from the CSPRNG, drawn in blocks. */
export function cryptoNormals(): Normals {
  const block = new Uint32Array(1 << 14);
  let next = block.length;
  const uniform = () => {
    if (next === block.length) {
      randomFillSync(block);
      next = 0;
    }
    return (block[next++] + 0.5) / 4294967296; // in (0, 1): the logarithm below stays finite
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * The factor that clips an update of L2 norm `norm` to at most `clippingNorm`: 1 when it is within it, and 0 for
 * a non-finite update (it has no direction worth keeping).
 */
export function clipFactor(norm: number, clippingNorm: number): number {
  return Number.isFinite(norm) ? Math.min(1, clippingNorm / norm) : 0;
}
