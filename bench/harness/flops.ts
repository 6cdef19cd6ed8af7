/**
 * Analytic FLOP counts for one training example (forward + backward) of the project's models.
 *
 * Counted (a multiply-add = 2 FLOPs):
 *   conv2d   forward 2·Ho·Wo·Cout·kh·kw·Cin
 *   dense    forward 2·rows·in·out (rows = positions it is applied at: 1, or the tokens for token_projection)
 *   encoder  forward: q, k, v, out projections 4 · 2·T·d·d; scores Q·Kᵀ 2·T·T·d and mix A·V 2·T·T·d (over all
 *            heads together); MLP 2·T·d·h + 2·T·h·d (T tokens incl. the class token, d width, h MLP width)
 * Backward, per matrix product: the weight gradient costs one forward (dW = Xᵀ·dY) and the input
 * gradient another (dX = dY·Wᵀ), except for the first layer, whose input (the image) needs no gradient;
 * the attention products have two activation operands, so both gradients (2× forward) are counted.
 * This is the usual "backward ≈ 2× forward" rule, made exact for the first layer.
 * Not counted: pooling, activations, softmax, layer norm, the loss and the optimizer update (O(activations)
 * or O(parameters) elementwise work, not matrix products); they take time but are not FLOP-dense.
 */
import type * as tfl from "@tensorflow/tfjs-layers";

export type LayerFlops =
  | { kind: "conv2d"; name: string; outH: number; outW: number; cout: number; kh: number; kw: number; cin: number; inputGrad: boolean }
  | { kind: "dense"; name: string; rows: number; inputs: number; units: number; inputGrad: boolean }
  | { kind: "encoder"; name: string; tokens: number; dim: number; hidden: number }
  | { kind: "other"; name: string; className: string };

export interface FlopCount {
  forward: number;
  backward: number;
  /** forward + backward, per example. */
  training: number;
  perLayer: { name: string; kind: string; forward: number; backward: number }[];
}

export function layerForward(l: LayerFlops): number {
  switch (l.kind) {
    case "conv2d":
      return 2 * l.outH * l.outW * l.cout * l.kh * l.kw * l.cin;
    case "dense":
      return 2 * l.rows * l.inputs * l.units;
    case "encoder": {
      const { tokens: t, dim: d, hidden: h } = l;
      return 4 * 2 * t * d * d + 2 * (2 * t * t * d) + 2 * 2 * t * d * h;
    }
    case "other":
      return 0;
  }
}

export function layerBackward(l: LayerFlops): number {
  switch (l.kind) {
    case "conv2d":
    case "dense":
      return layerForward(l) * (l.inputGrad ? 2 : 1);
    case "encoder":
      // Every product of the block has its weight/second-operand gradient and its input gradient.
      return 2 * layerForward(l);
    case "other":
      return 0;
  }
}

export function countFlops(layers: readonly LayerFlops[]): FlopCount {
  const perLayer = layers
    .filter((l) => l.kind !== "other")
    .map((l) => ({ name: l.name, kind: l.kind, forward: layerForward(l), backward: layerBackward(l) }));
  const forward = perLayer.reduce((n, l) => n + l.forward, 0);
  const backward = perLayer.reduce((n, l) => n + l.backward, 0);
  return { forward, backward, training: forward + backward, perLayer };
}

type Shape = (number | null)[];

function single(s: unknown): Shape {
  return (Array.isArray(s) && Array.isArray(s[0]) ? s[0] : s) as Shape;
}

function product(xs: (number | null)[]): number {
  return xs.reduce<number>((a, b) => a * (b ?? 1), 1);
}

/** The model's layers in the form countFlops takes (sequential models, as the project builds them). */
export function describeLayers(model: tfl.LayersModel): LayerFlops[] {
  let seenWeights = false;
  return model.layers.map((layer): LayerFlops => {
    const className = layer.getClassName();
    const name = layer.name;
    const input = layer.input as { shape: Shape } | { shape: Shape }[];
    const inShape = Array.isArray(input) ? input[0].shape : input.shape;
    const outShape = single(layer.outputShape);
    const hasWeights = layer.trainableWeights.length > 0;
    const inputGrad = seenWeights;
    if (hasWeights) seenWeights = true;
    const config = layer.getConfig() as Record<string, unknown>;
    if (className === "Conv2D") {
      const k = config.kernelSize as number[] | number;
      const [kh, kw] = Array.isArray(k) ? k : [k, k];
      return { kind: "conv2d", name, outH: outShape[1]!, outW: outShape[2]!, cout: outShape[3]!, kh, kw, cin: inShape[3]!, inputGrad };
    }
    if (className === "Dense") {
      return { kind: "dense", name, rows: product(inShape.slice(1, -1)), inputs: inShape[inShape.length - 1]!, units: config.units as number, inputGrad };
    }
    if (/TransformerEncoderBlock$/.test(className)) {
      const dim = inShape[2]!;
      const ratio = (config.mlpRatio as number | undefined) ?? 2;
      return { kind: "encoder", name, tokens: inShape[1]!, dim, hidden: Math.round(dim * ratio) };
    }
    return { kind: "other", name, className };
  });
}

export function modelFlops(model: tfl.LayersModel): FlopCount {
  return countFlops(describeLayers(model));
}
