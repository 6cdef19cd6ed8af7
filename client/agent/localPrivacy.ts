/**
 * Local differential privacy, applied by a site before its update leaves it: the update is clipped to an L2
 * norm of at most C over all its layers, then Gaussian noise of standard deviation z·C is added to every value.
 * Any change to the site's data, one record or all of them, moves the clipped update by at most 2C, so each
 * update the site sends is the Gaussian mechanism with noise multiplier z/2 towards whoever sees it, the
 * coordinator included. Unlike dpfedavg (noise added once, centrally), it needs no trust in the coordinator;
 * the price is noise in every site's update instead of once in their mean. The example count and the metrics
 * a site reports are not covered.
 */
import { gaussianEpsilon } from "../../shared/privacy/gaussianAccountant.js";
import { clipFactor, type Normals } from "../../shared/privacy/gaussianNoise.js";
import { l2Norm } from "../../shared/updateNorm.js";

export interface LocalPrivacy {
  clippingNorm: number;
  noiseMultiplier: number;
  delta: number;
}

/** Clips `update` to the clipping norm and adds the noise, in place; returns it. */
export function privatizeUpdate(update: Float32Array[], p: LocalPrivacy, normal: Normals): Float32Array[] {
  const scale = clipFactor(l2Norm(update), p.clippingNorm); // 0 for a non-finite update: it is sent as noise alone
  const std = p.noiseMultiplier * p.clippingNorm;
  for (const layer of update) {
    for (let j = 0; j < layer.length; j++) layer[j] = (scale === 0 ? 0 : layer[j] * scale) + std * normal();
  }
  return update;
}

/** The (ε, δ) a site has spent towards whoever sees its updates, after sending `updates` of them. */
export function localEpsilon(p: LocalPrivacy, updates: number): number {
  return gaussianEpsilon(p.noiseMultiplier / 2, updates, p.delta);
}
