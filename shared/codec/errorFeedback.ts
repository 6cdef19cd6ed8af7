/**
 * Client-side error feedback for lossy update encodings (top-k, int8, fp16), after Stich et al. 2018
 * ("Sparsified SGD with memory") and Karimireddy et al. 2019 ("Error feedback fixes SignSGD"):
 *
 *   compensated_t = delta_t + residual_{t-1}      (compensate)
 *   sent_t        = decode(encode(compensated_t))  (what the coordinator will see)
 *   residual_t    = compensated_t − sent_t         (record)
 *
 * so Σ sent_t + residual_T = Σ delta_t: whatever an encoding drops or rounds away is carried to later rounds,
 * never lost. The residual is reset (to zeros) when the tensor shapes change, e.g. after the model changed.
 * Non-finite residual entries (an fp16 overflow, a NaN delta) are dropped to 0 so they cannot poison every
 * later round.
 */
export class ErrorFeedback {
  private shapes: number[][];
  private residual: Float32Array[];

  constructor(shapes: readonly (readonly number[])[]) {
    this.shapes = shapes.map((s) => [...s]);
    this.residual = this.shapes.map((s) => new Float32Array(count(s)));
  }

  /** Zeroes the residual, adopting new shapes if given. */
  reset(shapes: readonly (readonly number[])[] = this.shapes): void {
    this.shapes = shapes.map((s) => [...s]);
    this.residual = this.shapes.map((s) => new Float32Array(count(s)));
  }

  /** The residual carried into the next round (read-only views; do not modify). */
  get residuals(): readonly Float32Array[] {
    return this.residual;
  }

  /**
   * delta + residual, as new arrays (delta is not modified). When `shapes` is given and differs from the
   * current one, or the delta's tensor count or sizes do not match the residual, the residual is reset first.
   */
  compensate(delta: readonly Float32Array[], shapes?: readonly (readonly number[])[]): Float32Array[] {
    if (shapes && !sameShapes(shapes, this.shapes)) this.reset(shapes);
    if (delta.length !== this.residual.length || delta.some((d, i) => d.length !== this.residual[i].length)) {
      this.reset(shapes ?? delta.map((d) => [d.length]));
    }
    return delta.map((d, i) => {
      const r = this.residual[i];
      const out = new Float32Array(d.length);
      for (let j = 0; j < d.length; j++) out[j] = d[j] + r[j];
      return out;
    });
  }

  /** residual = compensated − sent, where sent is what the coordinator will decode from the encoded update. */
  record(sent: readonly Float32Array[], compensated: readonly Float32Array[]): void {
    if (sent.length !== compensated.length || sent.some((s, i) => s.length !== compensated[i].length)) {
      throw new Error("error feedback: sent and compensated tensors differ in count or size");
    }
    if (compensated.length !== this.residual.length || compensated.some((c, i) => c.length !== this.residual[i].length)) {
      this.reset(compensated.map((c) => [c.length]));
    }
    compensated.forEach((c, i) => {
      const s = sent[i];
      const r = this.residual[i];
      for (let j = 0; j < c.length; j++) {
        const e = c[j] - s[j];
        r[j] = e - e === 0 ? e : 0; // drops NaN and ±Inf
      }
    });
  }
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function sameShapes(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): boolean {
  return a.length === b.length && a.every((s, i) => s.length === b[i].length && s.every((d, j) => d === b[i][j]));
}
