/**
 * The stages of a chain model run outside tfjs (nativeChain.ts): its layers as forward and backward passes
 * over arrays of their own, computed by the chain's kernels (chainKernels.ts: sgemm, the fused conv block)
 * and, for the [batch, classes] softmax, in JavaScript. Each does the arithmetic of the tfjs kernels the
 * layer runs as, to float32 rounding (the kernels' order of summation differs), and keeps what its
 * backward pass needs from the last forward pass: the activations are views of the stage's buffers,
 * allocated once for the largest batch.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import { convPoolBlock, type ConvPoolBlock } from "../backends/convPoolBlock.js";
import type { ChainKernels } from "./chainKernels.js";
import type { ConvPoolLayers } from "./layerChain.js";

/** A weight: the variable it comes from, a copy of its values (loadWeights) and the last step's gradient. */
export interface Param {
  readonly variable: tfl.LayerVariable;
  readonly value: Float32Array;
  readonly grad: Float32Array;
}

/** The params' values := their variables' (a copy: training writes them back only when it has succeeded). */
export function loadWeights(params: readonly Param[]): void {
  for (const p of params) p.value.set(p.variable.read().dataSync() as Float32Array);
}

export interface Stage {
  /** Values per example in and out. */
  readonly inSize: number;
  readonly outSize: number;
  readonly params: readonly Param[];
  /** The output for n examples of input x (kept until the next forward pass). */
  forward(x: Float32Array, n: number): Float32Array;
  /** From the output's gradient dy: the params' gradients, and the input's (null when not wanted). */
  backward(dy: Float32Array, n: number): Float32Array | null;
}

const f = Math.fround;

function param(kernels: ChainKernels, variable: tfl.LayerVariable): Param {
  const size = (variable.shape as number[]).reduce((a, b) => a * b, 1);
  return { variable, value: kernels.float32(size), grad: kernels.float32(size) };
}

/**
 * Conv2D(ReLU) → MaxPooling2D(2) as the kernels' fused conv block, or null where they do not take it (the
 * SIMD kernels' direct path covers first layers only).
 */
export function convPoolStage(kernels: ChainKernels, layers: ConvPoolLayers, inShape: readonly number[], batchSize: number, inputGradient: boolean): ConvPoolStage | null {
  const block = convPoolBlock("conv block", [batchSize, ...inShape], layers.kernel.shape as number[], layers.pad);
  return kernels.coversConvPool(block, inputGradient) ? new ConvPoolStage(kernels, layers, block, inputGradient) : null;
}

/** Conv2D(ReLU) → MaxPooling2D(2) as the kernels' fused conv block (native: src/conv_pool.cc). */
export class ConvPoolStage implements Stage {
  readonly inSize: number;
  readonly outSize: number;
  readonly params: readonly Param[];
  /** [h, w, oc] of the pooled output. */
  readonly outShape: readonly number[];
  private readonly block: ConvPoolBlock;
  private readonly kernel: Param;
  private readonly bias: Param;
  private readonly y: Float32Array;
  private readonly argmax: Int32Array;
  private readonly dx: Float32Array | null;
  private x: Float32Array = new Float32Array(0);
  /** The block for the last batch's size. */
  private current: ConvPoolBlock;

  constructor(
    private readonly kernels: ChainKernels,
    layers: ConvPoolLayers,
    block: ConvPoolBlock,
    inputGradient: boolean,
  ) {
    this.kernel = param(kernels, layers.kernel);
    this.bias = param(kernels, layers.bias);
    this.params = [this.kernel, this.bias];
    this.block = this.current = block;
    const { n: batchSize, h, w, c, ph, pw, oc } = block;
    this.inSize = h * w * c;
    this.outSize = ph * pw * oc;
    this.outShape = [ph, pw, oc];
    this.y = kernels.float32(batchSize * this.outSize);
    this.argmax = kernels.int32(batchSize * this.outSize);
    this.dx = inputGradient ? kernels.float32(batchSize * this.inSize) : null;
  }

  forward(x: Float32Array, n: number): Float32Array {
    if (this.current.n !== n) this.current = { ...this.block, n };
    this.x = x;
    const y = this.y.subarray(0, n * this.outSize);
    this.kernels.convPool(x, this.kernel.value, this.bias.value, y, this.argmax.subarray(0, y.length), this.current);
    return y;
  }

  backward(dy: Float32Array, n: number): Float32Array | null {
    const y = this.y.subarray(0, n * this.outSize);
    const dx = this.dx ? this.dx.subarray(0, n * this.inSize) : null;
    this.kernels.convPoolGrad(dy, this.x, this.kernel.value, y, this.argmax.subarray(0, y.length), this.kernel.grad, this.bias.grad, dx, this.current);
    return dx;
  }
}

export type DenseActivation = "linear" | "relu" | "softmax";

/** Dense: y = activation(x·W + b), by sgemm; the softmax (a model's last layer) in JavaScript. */
export class DenseStage implements Stage {
  readonly inSize: number;
  readonly outSize: number;
  readonly params: readonly Param[];
  private readonly kernel: Param;
  private readonly bias: Param | null;
  private readonly y: Float32Array;
  private readonly dz: Float32Array;
  private readonly dx: Float32Array | null;
  private x: Float32Array = new Float32Array(0);

  constructor(
    private readonly kernels: ChainKernels,
    kernel: tfl.LayerVariable,
    bias: tfl.LayerVariable | null,
    private readonly activation: DenseActivation,
    batchSize: number,
    inputGradient: boolean,
  ) {
    [this.inSize, this.outSize] = kernel.shape as [number, number];
    this.kernel = param(kernels, kernel);
    this.bias = bias ? param(kernels, bias) : null;
    this.params = this.bias ? [this.kernel, this.bias] : [this.kernel];
    this.y = kernels.float32(batchSize * this.outSize);
    this.dz = kernels.float32(batchSize * this.outSize);
    this.dx = inputGradient ? kernels.float32(batchSize * this.inSize) : null;
  }

  forward(x: Float32Array, n: number): Float32Array {
    const { inSize: k, outSize: m } = this;
    this.x = x;
    const y = this.y.subarray(0, n * m);
    this.kernels.sgemm(false, false, n, m, k, 1, x, k, this.kernel.value, m, 0, y, m);
    if (this.bias || this.activation === "relu") this.kernels.biasRelu(y, n, m, this.bias?.value ?? null, this.activation === "relu");
    if (this.activation === "softmax") softmaxRows(y, n, m);
    return y;
  }

  backward(dy: Float32Array, n: number): Float32Array | null {
    const { inSize: k, outSize: m } = this;
    const y = this.y.subarray(0, n * m);
    const dz = this.dz.subarray(0, n * m);
    if (this.activation === "softmax") softmaxGrad(dy, y, dz, n, m);
    // tfjs's ReLU gradient: dy where the output is > 0.
    else if (this.activation === "relu") for (let i = 0; i < dz.length; i++) dz[i] = y[i] > 0 ? dy[i] : 0;
    else dz.set(dy);
    this.kernels.sgemm(true, false, k, m, n, 1, this.x, k, dz, m, 0, this.kernel.grad, m);
    if (this.bias) this.kernels.sumColumns(dz, this.bias.grad, n, m);
    if (!this.dx) return null;
    const dx = this.dx.subarray(0, n * k);
    this.kernels.sgemm(false, true, n, k, m, 1, dz, m, this.kernel.value, m, 0, dx, k);
    return dx;
  }
}

/** Each row's softmax in place, as tfjs's: exp(z − max) / Σ, in float32. */
export function softmaxRows(z: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, z[o + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = f(Math.exp(f(z[o + j] - max)));
      z[o + j] = e;
      sum += e;
    }
    const s = f(sum);
    for (let j = 0; j < cols; j++) z[o + j] = f(z[o + j] / s);
  }
}

/** The softmax's gradient as tfjs computes it: dz = dy·p − (Σ dy·p)·p, per row, in float32. */
export function softmaxGrad(dy: Float32Array, p: Float32Array, dz: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += f(dy[o + j] * p[o + j]);
    const s = f(sum);
    for (let j = 0; j < cols; j++) dz[o + j] = f(f(dy[o + j] * p[o + j]) - f(s * p[o + j]));
  }
}
