/**
 * What defines a model on both sides of the wire: its architecture (a preset name plus explicit knobs),
 * input shape and class list. Two parties train together only if their specs are identical.
 */
import { UserError } from "../errors.js";

export interface FusionConfig {
  /** Output channels of the stem's conv blocks (each: conv 3×3 relu + max-pool 2). */
  stemChannels: number[];
  /** Token (embedding) dimension of the encoder. */
  tokenDim: number;
  /** Transformer encoder blocks. */
  layers: number;
  heads: number;
  /** MLP hidden size as a multiple of tokenDim. */
  mlpRatio: number;
  dropout: number;
}

export interface ModelSpec {
  architecture: string;
  inputShape: [number, number, number];
  classNames: string[];
  /** Only for fusion architectures: the preset's values with any explicit knobs applied. */
  fusion?: FusionConfig;
}

export const FUSION_PRESETS: Record<string, FusionConfig> = {
  "fusion-s": { stemChannels: [32, 64], tokenDim: 64, layers: 2, heads: 4, mlpRatio: 2, dropout: 0 },
  "fusion-m": { stemChannels: [32, 64], tokenDim: 128, layers: 4, heads: 4, mlpRatio: 2, dropout: 0.1 },
  "fusion-l": { stemChannels: [64, 128], tokenDim: 256, layers: 6, heads: 8, mlpRatio: 4, dropout: 0.1 },
};

/** `fusion` is the small preset: the design brief's model at a size a laptop trains in minutes. */
const ALIASES: Record<string, string> = { fusion: "fusion-s" };

export const ARCHITECTURES = ["cnn", "large", "fusion", ...Object.keys(FUSION_PRESETS)];

/** Resolves a model name and optional fusion knobs into a complete, validated spec. */
export function resolveModelSpec(
  name: string,
  inputShape: [number, number, number],
  classNames: string[],
  knobs: Partial<FusionConfig> = {},
): ModelSpec {
  const architecture = ALIASES[name] ?? name;
  if (!ARCHITECTURES.includes(architecture)) {
    throw new UserError(`unknown model '${name}': expected one of ${ARCHITECTURES.join(", ")}`);
  }
  const [h, w, c] = inputShape;
  if (!(h >= 8 && w >= 8 && h <= 512 && w <= 512) || (c !== 1 && c !== 3)) {
    throw new UserError(`unsupported input shape ${inputShape.join("x")}: expected HxWxC with 8 ≤ H,W ≤ 512 and C = 1 or 3`);
  }
  if (classNames.length < 2) throw new UserError(`a model needs at least 2 classes, got ${classNames.length}`);
  if (new Set(classNames).size !== classNames.length) throw new UserError(`duplicate class names in ${classNames.join(", ")}`);
  const spec: ModelSpec = { architecture, inputShape: [h, w, c], classNames: [...classNames] };
  const preset = FUSION_PRESETS[architecture];
  if (preset) {
    const fusion = { ...preset, ...knobs };
    if (fusion.tokenDim % fusion.heads !== 0) {
      throw new UserError(`token dimension ${fusion.tokenDim} must be divisible by heads ${fusion.heads}`);
    }
    spec.fusion = fusion;
  } else if (Object.keys(knobs).length > 0) {
    throw new UserError(`fusion options apply only to fusion models, not '${name}'`);
  }
  return spec;
}
