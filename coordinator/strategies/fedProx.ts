/**
 * FedProx: FedAvg on the server; each client adds (μ/2)·‖w − w_global‖² to its local loss.
 * The coordinator reads `proximalMu` and sends it to the clients with the fit instructions.
 */
import { FedAvg } from "./fedAvg.js";
import type { OptionSpecs } from "./options.js";

export const FEDPROX_OPTIONS = {
  mu: { min: 0, description: "proximal term weight μ (required)" },
} satisfies OptionSpecs;

export interface FedProxOptions {
  mu: number;
}

export class FedProx extends FedAvg {
  override readonly name: string = "fedprox";
  readonly proximalMu: number;

  constructor(options: FedProxOptions) {
    super();
    this.proximalMu = options.mu;
  }
}
