/**
 * The model family, built with tfjs-layers. Layers carry explicit names so weight names are stable across
 * processes: they name tensors on the wire and in saved models.
 */
import * as tfl from "@tensorflow/tfjs-layers";
import { ClassTokenAndPosition, ClassTokenPool, TokenLayerNorm, TransformerEncoderBlock } from "./fusionLayers.js";
import type { FusionConfig, ModelSpec } from "./modelSpec.js";

export function buildModel(spec: ModelSpec): tfl.LayersModel {
  const input = tfl.input({ shape: spec.inputShape, name: "image" });
  const classes = spec.classNames.length;
  let x: tfl.SymbolicTensor;
  switch (spec.architecture) {
    case "cnn":
      // The brief's build_cnn_model: conv(32, 3×3, relu) → max-pool 2 → flatten → dense softmax.
      x = conv("conv1", 32).apply(input) as tfl.SymbolicTensor;
      x = pool("pool1").apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.flatten({ name: "flatten" }).apply(x) as tfl.SymbolicTensor;
      break;
    case "large":
      // The brief's build_large_model: the same shape with conv(64) and more capacity.
      x = conv("conv1", 64).apply(input) as tfl.SymbolicTensor;
      x = pool("pool1").apply(x) as tfl.SymbolicTensor;
      x = conv("conv2", 64).apply(x) as tfl.SymbolicTensor;
      x = pool("pool2").apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.flatten({ name: "flatten" }).apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.dense({ units: 128, activation: "relu", name: "dense1" }).apply(x) as tfl.SymbolicTensor;
      break;
    default:
      if (!spec.fusion) throw new Error(`model '${spec.architecture}' has no fusion config`);
      x = fusionBody(input, spec.fusion, spec.inputShape);
  }
  const output = tfl.layers.dense({ units: classes, activation: "softmax", name: "classifier" }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output, name: spec.architecture });
}

function conv(name: string, filters: number, padding: "valid" | "same" = "valid") {
  return tfl.layers.conv2d({ filters, kernelSize: 3, activation: "relu", padding, name });
}

function pool(name: string) {
  return tfl.layers.maxPooling2d({ poolSize: 2, name });
}

/** How many stem blocks bring the feature map down to at most 8×8 tokens, with at least the configured ones. */
export function stemDepth(fusion: FusionConfig, inputShape: readonly number[]): number {
  let side = Math.min(inputShape[0], inputShape[1]);
  let depth = 0;
  while (depth < fusion.stemChannels.length || Math.max(inputShape[0], inputShape[1]) / 2 ** depth > 8) {
    if (side < 2) break;
    side = Math.floor(side / 2);
    depth++;
  }
  return depth;
}

/** Stem (conv blocks) → tokens → class token + positions → encoder blocks → norm → class-token output. */
function fusionBody(input: tfl.SymbolicTensor, f: FusionConfig, inputShape: readonly number[]): tfl.SymbolicTensor {
  let x = input;
  const depth = stemDepth(f, inputShape);
  for (let i = 0; i < depth; i++) {
    const channels = f.stemChannels[Math.min(i, f.stemChannels.length - 1)];
    x = conv(`stem_conv${i + 1}`, channels, "same").apply(x) as tfl.SymbolicTensor;
    x = pool(`stem_pool${i + 1}`).apply(x) as tfl.SymbolicTensor;
  }
  const [, h, w, c] = x.shape as number[];
  x = tfl.layers.reshape({ targetShape: [h * w, c], name: "tokens" }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: f.tokenDim, name: "token_projection" }).apply(x) as tfl.SymbolicTensor;
  x = new ClassTokenAndPosition({ name: "class_token_position" }).apply(x) as tfl.SymbolicTensor;
  for (let i = 0; i < f.layers; i++) {
    x = new TransformerEncoderBlock({ heads: f.heads, mlpRatio: f.mlpRatio, dropout: f.dropout, name: `encoder${i + 1}` }).apply(
      x,
    ) as tfl.SymbolicTensor;
  }
  x = new TokenLayerNorm({ name: "encoder_norm" }).apply(x) as tfl.SymbolicTensor;
  return new ClassTokenPool({ name: "class_token_pool" }).apply(x) as tfl.SymbolicTensor;
}
