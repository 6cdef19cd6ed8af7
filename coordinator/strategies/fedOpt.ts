/**
 * Adaptive federated optimization (Reddi et al., 2020), as Flower's FedAdam, FedYogi and FedAdagrad:
 * Δ = fedavg − current is a pseudo-gradient step fed to a server-side Adam / Yogi / Adagrad.
 * The moment estimates start at zero on the first round and are kept in float32, as Flower keeps them.
 */
import { FedAvg } from "./fedAvg.js";
import { arraysOf, checkLayers, copyLayers } from "./layers.js";
import type { OptionSpecs } from "./options.js";
import type { StrategyState } from "./strategy.js";

const eta = (value: number) => ({ default: value, min: 0, minExclusive: true, description: "server learning rate η" });
const beta = (value: number, what: string) =>
  ({ default: value, min: 0, max: 1, maxExclusive: true, description: what }) as const;
const tau = (value: number) => ({ default: value, min: 0, minExclusive: true, description: "adaptivity τ" });

export const FEDADAM_OPTIONS = {
  eta: eta(0.1),
  beta1: beta(0.9, "first-moment decay β1"),
  beta2: beta(0.99, "second-moment decay β2"),
  tau: tau(1e-9),
} satisfies OptionSpecs;

export const FEDYOGI_OPTIONS = {
  eta: eta(0.01),
  beta1: beta(0.9, "first-moment decay β1"),
  beta2: beta(0.99, "second-moment decay β2"),
  tau: tau(1e-3),
} satisfies OptionSpecs;

export const FEDADAGRAD_OPTIONS = {
  eta: eta(0.1),
  tau: tau(1e-9),
} satisfies OptionSpecs;

export interface FedAdamOptions {
  eta: number;
  beta1: number;
  beta2: number;
  tau: number;
}
export type FedYogiOptions = FedAdamOptions;
export interface FedAdagradOptions {
  eta: number;
  tau: number;
}

/** Holds the state (m, v, round number) and runs one layer kernel per layer. */
abstract class FedOpt extends FedAvg {
  /** First moment; unused (null) for Adagrad, where m = Δ. */
  private m: Float32Array[] | null = null;
  private v: Float32Array[] | null = null;
  /** Server rounds finished so far. */
  private rounds = 0;

  constructor(
    protected readonly eta: number,
    protected readonly tau: number,
    private readonly usesFirstMoment: boolean,
  ) {
    super();
  }

  protected override step(current: readonly Float32Array[], mean: Float32Array[]): Float32Array[] {
    const t = this.rounds + 1;
    const zeros = () => current.map((cur) => new Float32Array(cur.length));
    if (this.v !== null) checkLayers(current, this.v, `${this.name}: the optimizer state (the model changed shape?)`);
    const v = this.v ?? zeros();
    const m = this.usesFirstMoment ? (this.m ?? zeros()) : null;
    const rate = this.learningRate(t);
    const next = current.map((cur, l) => {
      const out = new Float32Array(cur.length);
      this.updateLayer(cur, mean[l], m === null ? null : m[l], v[l], out, rate);
      return out;
    });
    this.m = m;
    this.v = v;
    this.rounds = t;
    return next;
  }

  protected override takesMean(): boolean {
    return false;
  }

  exportState(): StrategyState | null {
    if (this.v === null) return null;
    const arrays: Record<string, Float32Array[]> = { v: copyLayers(this.v) };
    if (this.m) arrays.m = copyLayers(this.m);
    return { scalars: { rounds: this.rounds }, arrays };
  }

  importState(state: StrategyState): void {
    const rounds = state.scalars.rounds;
    if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`${this.name}: the saved state has no valid round count (${rounds})`);
    this.v = arraysOf(state, "v", this.name);
    this.m = this.usesFirstMoment ? arraysOf(state, "m", this.name) : null;
    this.rounds = rounds;
  }

  /** η_t for server round t (1-based). */
  protected learningRate(_t: number): number {
    return this.eta;
  }

  /** Updates the moments of one layer in place and writes current + η_t·m/(√v + τ) to `out`. */
  protected abstract updateLayer(
    cur: Float32Array,
    avg: Float32Array,
    m: Float32Array | null,
    v: Float32Array,
    out: Float32Array,
    rate: number,
  ): void;
}

export class FedAdam extends FedOpt {
  override readonly name: string = "fedadam";
  private readonly beta1: number;
  private readonly beta2: number;
  /** Yogi's additive second-moment update instead of Adam's exponential average. */
  protected readonly yogi: boolean = false;

  constructor(options: FedAdamOptions) {
    super(options.eta, options.tau, true);
    this.beta1 = options.beta1;
    this.beta2 = options.beta2;
  }

  /** Adam's bias correction folded into the rate, as Flower does: η·√(1 − β2^(t+1)) / (1 − β1^(t+1)). */
  protected override learningRate(t: number): number {
    return (this.eta * Math.sqrt(1 - Math.pow(this.beta2, t + 1))) / (1 - Math.pow(this.beta1, t + 1));
  }

  protected updateLayer(cur: Float32Array, avg: Float32Array, m: Float32Array | null, v: Float32Array, out: Float32Array, rate: number): void {
    const m1 = m!;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const tau = this.tau;
    const yogi = this.yogi;
    for (let j = 0; j < cur.length; j++) {
      const d = avg[j] - cur[j];
      const d2 = d * d;
      const mj = Math.fround(b1 * m1[j] + (1 - b1) * d);
      // Adam: v = β2·v + (1 − β2)·Δ²; Yogi: v = v − (1 − β2)·Δ²·sign(v − Δ²).
      const vj = Math.fround(yogi ? v[j] - (1 - b2) * d2 * Math.sign(v[j] - d2) : b2 * v[j] + (1 - b2) * d2);
      m1[j] = mj;
      v[j] = vj;
      out[j] = cur[j] + (rate * mj) / (Math.sqrt(vj) + tau);
    }
  }
}

export class FedYogi extends FedAdam {
  override readonly name: string = "fedyogi";
  protected override readonly yogi: boolean = true;

  /** No bias correction in Flower's FedYogi. */
  protected override learningRate(_t: number): number {
    return this.eta;
  }
}

export class FedAdagrad extends FedOpt {
  override readonly name: string = "fedadagrad";

  constructor(options: FedAdagradOptions) {
    super(options.eta, options.tau, false);
  }

  protected updateLayer(cur: Float32Array, avg: Float32Array, _m: Float32Array | null, v: Float32Array, out: Float32Array, rate: number): void {
    const tau = this.tau;
    for (let j = 0; j < cur.length; j++) {
      const d = avg[j] - cur[j];
      const vj = Math.fround(v[j] + d * d);
      v[j] = vj;
      out[j] = cur[j] + (rate * d) / (Math.sqrt(vj) + tau);
    }
  }
}
