/** tfjs's NHWC conv geometry as the native addon's ConvGeometry (nativeKernels.ts, convPoolKernels.ts). */
import { backend_util } from "@tensorflow/tfjs-core";
import type { NamedAttrMap } from "@tensorflow/tfjs-core";
import type { ConvGeometry } from "./nativeAddon.js";

export type Shape4 = [number, number, number, number];
export type ConvPad = Parameters<typeof backend_util.computeConv2DInfo>[4];
export type Rounding = Parameters<typeof backend_util.computeConv2DInfo>[5];
export type Pair = number | [number, number];

function isNHWC(attrs: NamedAttrMap): boolean {
  return attrs.dataFormat === undefined || attrs.dataFormat === "NHWC";
}

/** tfjs's conv geometry as the addon's, or null when the addon does not cover it. */
export function convGeometry(
  inShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  dilations: Pair,
): { info: backend_util.Conv2DInfo; g: ConvGeometry } | null {
  if (inShape.length !== 4 || filterShape.length !== 4 || !isNHWC(attrs)) return null;
  const c = backend_util.computeConv2DInfo(
    inShape as Shape4,
    filterShape as Shape4,
    attrs.strides as Pair,
    dilations,
    attrs.pad as ConvPad,
    attrs.dimRoundingMode as Rounding,
    false,
    "channelsLast",
  );
  const { top, left } = c.padInfo;
  if (c.inChannels !== filterShape[2] || top < 0 || left < 0 || c.outHeight < 0 || c.outWidth < 0) return null;
  const g: ConvGeometry = [
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels,
    c.strideHeight, c.strideWidth, c.dilationHeight, c.dilationWidth, top, left, c.outHeight, c.outWidth,
  ];
  return { info: c, g };
}
