/**
 * Pixel-level conversions that bring images of any size and colour model to the shape a model expects:
 * channel conversion (RGBA/RGB/gray) and bilinear resizing, on byte images in row-major HWC order.
 */
import { imageSize, type ImageDataset } from "../../shared/data/imageDataset.js";

export interface ImageShape {
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * Grayscale from RGB by the ITU-R BT.601 luma weights, the same formula as PIL's convert("L") and
 * tf.image.rgb_to_grayscale, so a folder of colour images looks to the model as it would in Keras.
 * The weights sum to 1, so a gray pixel (r = g = b) keeps its exact value.
 */
export function luminance(r: number, g: number, b: number): number {
  return Math.round(0.299 * r + 0.587 * g + 0.114 * b);
}

/**
 * Converts `pixels` pixels of `from`-channel bytes (1 gray, 3 RGB, 4 RGBA) to `to` channels. Alpha is
 * dropped, not composited, as PIL's convert("RGB") does: the colour under a transparent pixel is kept.
 */
export function convertChannels(src: Uint8Array, pixels: number, from: 1 | 3 | 4, to: 1 | 3): Uint8Array {
  if (from === to) return src;
  const out = new Uint8Array(pixels * to);
  for (let p = 0; p < pixels; p++) {
    const s = p * from;
    if (from === 1) {
      // Gray to RGB: the same value in every channel.
      out.fill(src[s], p * 3, p * 3 + 3);
    } else if (to === 1) {
      out[p] = luminance(src[s], src[s + 1], src[s + 2]);
    } else {
      out[p * 3] = src[s];
      out[p * 3 + 1] = src[s + 1];
      out[p * 3 + 2] = src[s + 2];
    }
  }
  return out;
}

/** For each output position along one axis: the first source index and the weights of its taps. */
interface AxisTaps {
  first: Int32Array;
  /** taps × outSize weights; weights past a position's last tap are 0. */
  weights: Float32Array;
  taps: number;
}

/**
 * Triangle-filter (bilinear) taps with pixel centres at +0.5, as TF's resize with half_pixel_centers and
 * PIL's BILINEAR. When shrinking, the triangle is widened by the scale factor (PIL's behaviour) so every
 * source pixel contributes; plain 2-tap bilinear would sample only a few pixels of a large photo and
 * alias badly when it is shrunk to 28×28. When enlarging this is exactly the 2-tap interpolation, and at
 * equal size it is the identity.
 */
function axisTaps(inSize: number, outSize: number): AxisTaps {
  const scale = inSize / outSize;
  const support = Math.max(1, scale);
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    let sum = 0;
    for (let j = lo; j < hi && j - lo < taps; j++) {
      const w = Math.max(0, 1 - Math.abs(j + 0.5 - centre) / support);
      weights[o * taps + (j - lo)] = w;
      sum += w;
    }
    // Near the edges part of the triangle falls outside the image: renormalise what remains (edge clamp).
    for (let t = 0; t < taps; t++) weights[o * taps + t] /= sum;
    first[o] = lo;
  }
  return { first, weights, taps };
}

/** Resizes an HWC byte image with bilinear interpolation (see axisTaps). */
export function resizeBilinear(
  src: Uint8Array,
  srcHeight: number,
  srcWidth: number,
  channels: number,
  height: number,
  width: number,
): Uint8Array {
  if (srcHeight === height && srcWidth === width) return src;
  const xs = axisTaps(srcWidth, width);
  const ys = axisTaps(srcHeight, height);
  // Separable: rows first into floats (no intermediate rounding), then columns into bytes.
  const rows = new Float32Array(srcHeight * width * channels);
  for (let y = 0; y < srcHeight; y++) {
    const rowIn = y * srcWidth * channels;
    const rowOut = y * width * channels;
    for (let x = 0; x < width; x++) {
      const first = xs.first[x];
      const wBase = x * xs.taps;
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let t = 0; t < xs.taps; t++) {
          const w = xs.weights[wBase + t];
          if (w !== 0) acc += w * src[rowIn + (first + t) * channels + c];
        }
        rows[rowOut + x * channels + c] = acc;
      }
    }
  }
  const out = new Uint8Array(height * width * channels);
  const stride = width * channels;
  for (let y = 0; y < height; y++) {
    const first = ys.first[y];
    const wBase = y * ys.taps;
    for (let i = 0; i < stride; i++) {
      let acc = 0;
      for (let t = 0; t < ys.taps; t++) {
        const w = ys.weights[wBase + t];
        if (w !== 0) acc += w * rows[(first + t) * stride + i];
      }
      out[y * stride + i] = Math.min(255, Math.max(0, Math.round(acc)));
    }
  }
  return out;
}

/**
 * `d` with every image converted to `shape` (channels first, then size), e.g. a 28×28 grayscale built-in
 * dataset for a model that takes 32×32 RGB. Returns `d` itself when it already has that shape.
 */
export function reshapeDataset(d: ImageDataset, shape: ImageShape): ImageDataset {
  if (d.height === shape.height && d.width === shape.width && d.channels === shape.channels) return d;
  if (d.channels !== 1 && d.channels !== 3) {
    throw new Error(`cannot convert images with ${d.channels} channels: expected 1 or 3`);
  }
  const inSize = imageSize(d);
  const outSize = imageSize(shape);
  const images = new Uint8Array(d.count * outSize);
  for (let i = 0; i < d.count; i++) {
    const img = d.images.subarray(i * inSize, (i + 1) * inSize);
    const converted = convertChannels(img, d.height * d.width, d.channels, shape.channels);
    images.set(resizeBilinear(converted, d.height, d.width, shape.channels, shape.height, shape.width), i * outSize);
  }
  return { ...d, images, height: shape.height, width: shape.width, channels: shape.channels };
}
