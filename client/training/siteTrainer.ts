/**
 * One site's local model: set the global weights, train on the shard, return the delta. Clients hosted in
 * one process (simulation) share one trainer per model, and a lock makes them take turns: the process has
 * one TensorFlow.js runtime, and taking turns keeps memory at one model and caches warm.
 */
import type * as tfl from "@tensorflow/tfjs-layers";
import type { ImageDataset } from "../../shared/data/imageDataset.js";
import type { TrainingSource } from "../../shared/data/trainingSource.js";
import { buildModel } from "../../shared/model/architectures.js";
import type { Evaluation } from "../../shared/model/evaluate.js";
import { federatedIndices, isFederatedLayer, type FederateMode } from "../../shared/model/federatedParts.js";
import type { ModelSpec } from "../../shared/model/modelSpec.js";
import { readWeights, subtractLayers, weightSpecs, writeWeights, type WeightSpec } from "../../shared/model/weights.js";
import { evaluateLocally, trainLocally, type LocalTrainingConfig, type LocalTrainingResult } from "./localTrainer.js";

export class SiteTrainer {
  readonly model: tfl.LayersModel;
  readonly specs: WeightSpec[];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly spec: ModelSpec) {
    this.model = buildModel(spec);
    this.specs = weightSpecs(this.model);
  }

  /** Positions of the weights federated under `mode` (see federatedParts). */
  federated(mode: FederateMode): number[] {
    return federatedIndices(this.specs, mode);
  }

  /**
   * Trains from the global weights (all of them); only the federated layers train. The delta is
   * local − global for the federated weights, in model order.
   */
  train(global: Float32Array[], data: ImageDataset | TrainingSource, config: LocalTrainingConfig & { federate: FederateMode }): Promise<{ delta: Float32Array[]; result: LocalTrainingResult }> {
    return this.exclusive(async () => {
      for (const layer of this.model.layers) layer.trainable = isFederatedLayer(layer.name, config.federate);
      writeWeights(this.model, global);
      const result = await trainLocally(this.model, data, config);
      const idx = this.federated(config.federate);
      const local = readWeights(this.model);
      return { delta: subtractLayers(idx.map((i) => local[i]), idx.map((i) => global[i])), result };
    });
  }

  evaluate(weights: Float32Array[], data: ImageDataset | TrainingSource): Promise<Evaluation> {
    return this.exclusive(async () => {
      writeWeights(this.model, weights);
      return evaluateLocally(this.model, data);
    });
  }

  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
