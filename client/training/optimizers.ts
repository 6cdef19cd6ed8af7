/**
 * The local optimizer. Adam runs as FusedAdamOptimizer where the backend has the fused kernel (wasm and
 * the native path: one kernel per variable instead of tfjs's 14, same numbers to the bit), else as
 * tfjs's own AdamOptimizer.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ADAM_KERNEL, AdamSchedule, hasAdamKernel } from "../../shared/backends/adamKernel.js";

/** tfjs's AdamOptimizer, with each variable's update done by the FedfusionAdam kernel. */
export class FusedAdamOptimizer extends tf.Optimizer {
  static get className(): string {
    return "FusedAdam";
  }

  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  private readonly schedule: AdamSchedule;

  /** Betas and epsilon default as AdamSchedule's (tfjs's AdamOptimizer's). */
  constructor(learningRate: number, beta1?: number, beta2?: number, epsilon?: number) {
    super();
    this.schedule = new AdamSchedule(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const grads = Array.isArray(variableGradients) ? variableGradients.map((g) => [g.name, g.tensor] as const) : Object.entries(variableGradients);
    const coefficients = this.schedule.next();
    tf.tidy(() => {
      for (const [name, g] of grads) {
        if (g == null) continue;
        const value = tf.engine().registeredVariables[name];
        if (!value) throw new Error(`FusedAdam: no variable named ${name}`);
        const s = this.momentsOf(name, value);
        const [x, m, v] = tf.engine().runKernel(ADAM_KERNEL, { x: value, g, m: s.m, v: s.v }, { coefficients } as never) as tf.Tensor[];
        value.assign(x);
        s.m.assign(m);
        s.v.assign(v);
      }
    });
    this.incrementIterations();
  }

  private momentsOf(name: string, value: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let s = this.moments.get(name);
    if (!s) {
      s = tf.tidy(() => ({ m: tf.zerosLike(value).variable(false), v: tf.zerosLike(value).variable(false) }));
      this.moments.set(name, s);
    }
    return s;
  }

  override dispose(): void {
    for (const s of this.moments.values()) tf.dispose([s.m, s.v]);
    this.moments.clear();
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { learningRate, beta1, beta2, epsilon } = this.schedule;
    return { learningRate, beta1, beta2, epsilon };
  }
}

/** The optimizer a site trains with. */
export function createOptimizer(kind: "adam" | "sgd", learningRate: number): tf.Optimizer {
  if (kind === "sgd") return tf.train.sgd(learningRate);
  return hasAdamKernel() ? new FusedAdamOptimizer(learningRate) : tf.train.adam(learningRate);
}
