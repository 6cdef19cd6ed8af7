/**
 * DP-FedAvg with central Gaussian noise (McMahan et al. 2018; Flower's DifferentialPrivacyServerSideFixedClipping
 * around FedAvg). Each update is clipped to an L2 norm of at most C over all its layers, the clipped updates
 * are averaged with equal weights, and Gaussian noise of standard deviation z·C/m (m updates) is added to
 * every value of the mean. Adding or removing one site moves the sum by at most C, so each round is the
 * Gaussian mechanism with noise multiplier z, whatever a site sends: clipping happens here, after decoding,
 * not on trust. Equal weights, not examples: with example weights a large site could move the mean by more
 * than C/m. What this protects: the models the federation releases (to the sites, to whoever gets the final
 * one), not the individual updates from the coordinator, which sees them before the noise.
 */
import { subtractLayers } from "../../shared/model/weights.js";
import { gaussianEpsilon, type PrivacySpent } from "../../shared/privacy/gaussianAccountant.js";
import { clipFactor, cryptoNormals, seededNormals } from "../../shared/privacy/gaussianNoise.js";
import { l2Norm } from "../../shared/updateNorm.js";
import { foldKernels } from "../foldKernels.js";
import { AccumulatorPool } from "./layers.js";
import type { OptionSpecs } from "./options.js";
import { BaseStrategy, RoundBase } from "./round.js";
import type { DeltaResult, FitResult, RoundAggregation, StrategyState } from "./strategy.js";

export const DPFEDAVG_OPTIONS = {
  clippingNorm: { min: 0, minExclusive: true, description: "largest L2 norm of an update (C)" },
  noiseMultiplier: { min: 0, description: "noise standard deviation over C (z)" },
  delta: { default: 1e-5, min: 0, max: 1, minExclusive: true, maxExclusive: true, description: "δ of the (ε, δ) reported" },
  seed: { default: -1, min: -1, integer: true, description: "noise seed, for reproducible simulations; -1: cryptographically random, as a deployment needs" },
} satisfies OptionSpecs;

export class DpFedAvg extends BaseStrategy {
  readonly name = "dpfedavg";
  readonly streaming = true;
  private readonly pool = new AccumulatorPool();
  private readonly cryptoNoise = cryptoNormals();
  /** Rounds finished: a seeded run draws each round's noise from a stream of that round's own. */
  private rounds = 0;

  constructor(private readonly o: Record<keyof typeof DPFEDAVG_OPTIONS, number>) {
    super();
  }

  beginRound(current: Float32Array[]): RoundAggregation {
    // Seeded by round, so a run resumed from a checkpoint draws the noise the uninterrupted run would have.
    const noise = this.o.seed >= 0 ? seededNormals((Math.imul(this.o.seed, 1_000_003) + Math.imul(this.rounds + 1, 7919)) >>> 0) : this.cryptoNoise;
    return new ClippedMeanRound(current, this.name, this.pool, this.o.clippingNorm, this.o.noiseMultiplier, noise, () => this.rounds++);
  }

  privacySpent(rounds: number): PrivacySpent {
    return { epsilon: gaussianEpsilon(this.o.noiseMultiplier, rounds, this.o.delta), delta: this.o.delta };
  }

  exportState(): StrategyState | null {
    return this.rounds === 0 ? null : { scalars: { rounds: this.rounds }, arrays: {} };
  }

  importState(state: StrategyState): void {
    const rounds = state.scalars.rounds;
    if (!Number.isInteger(rounds) || rounds < 0) throw new Error(`${this.name}: the saved state has no valid round count (got ${rounds})`);
    this.rounds = rounds;
  }
}

class ClippedMeanRound extends RoundBase {
  private readonly kernels = foldKernels();
  private readonly sums: Float64Array[];
  private updates = 0;

  constructor(
    current: readonly Float32Array[],
    strategyName: string,
    private readonly pool: AccumulatorPool,
    private readonly clippingNorm: number,
    private readonly noiseMultiplier: number,
    private readonly noise: () => number,
    private readonly onFinished: () => void,
  ) {
    super(current, strategyName);
    this.sums = pool.take(current);
  }

  protected accept(result: FitResult): void {
    this.acceptDelta({ delta: subtractLayers(result.weights, this.current), numExamples: result.numExamples });
  }

  protected override acceptDelta(result: DeltaResult): void {
    const scale = clipFactor(l2Norm(result.delta), this.clippingNorm); // 0 for a non-finite update: a site that sent nothing
    const first = this.updates === 0;
    for (let l = 0; l < this.sums.length; l++) {
      if (scale > 0) this.kernels.foldDelta(this.sums[l], result.delta[l], scale, first);
      else if (first) this.sums[l].fill(0); // 0·NaN would be NaN
    }
    this.updates++;
  }

  protected complete(inPlace: boolean): Float32Array[] {
    try {
      const std = this.noiseMultiplier * this.clippingNorm; // on the sum; the mean's is std/m
      if (std > 0) for (const acc of this.sums) for (let j = 0; j < acc.length; j++) acc[j] += std * this.noise();
      const mean = this.sums.map((acc, l) => {
        const out = inPlace ? (this.current[l] as Float32Array) : new Float32Array(acc.length);
        this.kernels.finishMean(acc, this.current[l], this.updates, out);
        return out;
      });
      this.onFinished();
      return mean;
    } finally {
      this.pool.give(this.sums);
    }
  }
}
