/**
 * Training-time augmentation: random horizontal flip and random crop with zero padding (pad every side by
 * p pixels, then crop back to the original size at a random offset), as torchvision's
 * Compose([RandomCrop(size, padding=p), RandomHorizontalFlip()]). The draws come from a Random seeded by
 * the caller (the round's seed), one draw set per example in training order, so a round is reproducible.
 * Only training batches are augmented; evaluation never is.
 */
import { UserError } from "../errors.js";
import type { Random } from "../random.js";
import { BYTE_TO_UNIT } from "./imageDataset.js";

export interface AugmentConfig {
  /** Mirror left–right with probability 1/2. */
  flip: boolean;
  /** Pad by this many pixels on every side and crop back at a random offset; 0 = no cropping. */
  cropPadding: number;
}

/** One example's draw: mirrored or not, and the crop's offset in pixels (each in [-p, p]). */
export interface AugmentDraw {
  flip: boolean;
  dy: number;
  dx: number;
}

export function validateAugment(a: AugmentConfig): void {
  if (typeof a.flip !== "boolean") throw new UserError(`augment.flip must be true or false, got ${String(a.flip)}`);
  if (!(Number.isSafeInteger(a.cropPadding) && a.cropPadding >= 0 && a.cropPadding <= 1024)) {
    throw new UserError(`augment.cropPadding must be a whole number of pixels from 0 to 1024, got ${String(a.cropPadding)}`);
  }
}

/** Whether `a` changes anything (absent, or flip off and no padding, is the identity). */
export function augmentActive(a: AugmentConfig | undefined): a is AugmentConfig {
  return a !== undefined && (a.flip || a.cropPadding > 0);
}

export class Augmenter {
  constructor(
    readonly config: AugmentConfig,
    private readonly rng: Random,
  ) {
    validateAugment(config);
  }

  /** The next example's draw. Only what is enabled is drawn, so each option's stream is stable. */
  draw(): AugmentDraw {
    const p = this.config.cropPadding;
    const flip = this.config.flip ? this.rng.next() < 0.5 : false;
    const dy = p > 0 ? this.rng.int(2 * p + 1) - p : 0;
    const dx = p > 0 ? this.rng.int(2 * p + 1) - p : 0;
    return { flip, dy, dx };
  }
}

/**
 * Writes one augmented HWC byte image as floats in [0, 1] into `out` at `base`: output pixel (y, x) is
 * source pixel (y + dy, x' + dx), x' = W−1−x when flipped (crop, then flip), and 0 where that falls in the
 * padding. `out` must be zero there already (a fresh Float32Array is).
 */
export function writeAugmented(
  src: Uint8Array,
  srcBase: number,
  out: Float32Array,
  base: number,
  height: number,
  width: number,
  channels: number,
  d: AugmentDraw,
): void {
  const rowBytes = width * channels;
  for (let y = 0; y < height; y++) {
    const sy = y + d.dy;
    if (sy < 0 || sy >= height) continue;
    const srcRow = srcBase + sy * rowBytes;
    const outRow = base + y * rowBytes;
    for (let x = 0; x < width; x++) {
      const sx = (d.flip ? width - 1 - x : x) + d.dx;
      if (sx < 0 || sx >= width) continue;
      const s = srcRow + sx * channels;
      const o = outRow + x * channels;
      for (let c = 0; c < channels; c++) out[o + c] = BYTE_TO_UNIT[src[s + c]];
    }
  }
}
