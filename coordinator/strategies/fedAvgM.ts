/**
 * FedAvgM (Hsu et al., 2019), as Flower's FedAvgM: pseudo-gradient g = current − fedavg; with momentum β > 0,
 * m = g on the first round and m = β·m + g afterwards, g = m; next = current − lr·g.
 */
import { FedAvg } from "./fedAvg.js";
import { checkLayers } from "./layers.js";
import type { OptionSpecs } from "./options.js";
import type { StrategyState } from "./strategy.js";
import { arraysOf, copyLayers } from "./layers.js";

export const FEDAVGM_OPTIONS = {
  serverLearningRate: { default: 1, min: 0, minExclusive: true, description: "server learning rate" },
  serverMomentum: { default: 0, min: 0, max: 1, maxExclusive: true, description: "server momentum β" },
} satisfies OptionSpecs;

export interface FedAvgMOptions {
  serverLearningRate: number;
  serverMomentum: number;
}

export class FedAvgM extends FedAvg {
  override readonly name: string = "fedavgm";
  private readonly lr: number;
  private readonly beta: number;
  /** Momentum buffer (float32, as Flower keeps it); created on the first round when β > 0. */
  private momentum: Float32Array[] | null = null;

  constructor(options: FedAvgMOptions) {
    super();
    this.lr = options.serverLearningRate;
    this.beta = options.serverMomentum;
  }

  protected override takesMean(): boolean {
    return this.lr === 1 && this.beta === 0;
  }

  exportState(): StrategyState | null {
    return this.momentum ? { scalars: {}, arrays: { momentum: copyLayers(this.momentum) } } : null;
  }

  importState(state: StrategyState): void {
    this.momentum = arraysOf(state, "momentum", this.name);
  }

  protected override step(current: readonly Float32Array[], mean: Float32Array[]): Float32Array[] {
    // Flower skips the server optimizer altogether for lr = 1 and no momentum: the result is FedAvg's.
    if (this.takesMean()) return mean;
    const lr = this.lr;
    const beta = this.beta;
    if (beta === 0) {
      return current.map((cur, l) => {
        const avg = mean[l];
        const out = new Float32Array(cur.length);
        for (let j = 0; j < cur.length; j++) out[j] = cur[j] - lr * (cur[j] - avg[j]);
        return out;
      });
    }
    const first = this.momentum === null;
    if (!first) checkLayers(current, this.momentum!, "fedavgm: the momentum state (the model changed shape?)");
    const momentum = first ? current.map((cur) => new Float32Array(cur.length)) : this.momentum!;
    const next = current.map((cur, l) => {
      const avg = mean[l];
      const m = momentum[l];
      const out = new Float32Array(cur.length);
      for (let j = 0; j < cur.length; j++) {
        const g = cur[j] - avg[j];
        const mj = Math.fround(first ? g : beta * m[j] + g);
        m[j] = mj;
        out[j] = cur[j] - lr * mj;
      }
      return out;
    });
    this.momentum = momentum;
    return next;
  }
}

