/** Strategies by name, as the CLI and config files spell them. */
import { UserError } from "../../shared/errors.js";
import type { Strategy } from "./strategy.js";
import { Bulyan, BULYAN_OPTIONS } from "./bulyan.js";
import { DpFedAvg, DPFEDAVG_OPTIONS } from "./dpFedAvg.js";
import { FedAvg } from "./fedAvg.js";
import { FedAvgM, FEDAVGM_OPTIONS } from "./fedAvgM.js";
import { FedAdagrad, FEDADAGRAD_OPTIONS, FedAdam, FEDADAM_OPTIONS, FedYogi, FEDYOGI_OPTIONS } from "./fedOpt.js";
import { FedProx, FEDPROX_OPTIONS } from "./fedProx.js";
import { Krum, KRUM_OPTIONS } from "./krum.js";
import { FedMedian } from "./median.js";
import { resolveOptions } from "./options.js";
import { FedTrimmedAvg, FEDTRIMMEDAVG_OPTIONS } from "./trimmedMean.js";

export { parseStrategyOptions } from "./options.js";

type Options = Readonly<Record<string, number>>;

const FACTORIES: Record<string, (options: Options) => Strategy> = {
  fedavg: (o) => (resolveOptions("fedavg", {}, o), new FedAvg()),
  fedavgm: (o) => new FedAvgM(resolveOptions("fedavgm", FEDAVGM_OPTIONS, o)),
  fedadam: (o) => new FedAdam(resolveOptions("fedadam", FEDADAM_OPTIONS, o)),
  fedyogi: (o) => new FedYogi(resolveOptions("fedyogi", FEDYOGI_OPTIONS, o)),
  fedadagrad: (o) => new FedAdagrad(resolveOptions("fedadagrad", FEDADAGRAD_OPTIONS, o)),
  fedprox: (o) => new FedProx(resolveOptions("fedprox", FEDPROX_OPTIONS, o)),
  fedmedian: (o) => (resolveOptions("fedmedian", {}, o), new FedMedian()),
  fedtrimmedavg: (o) => new FedTrimmedAvg(resolveOptions("fedtrimmedavg", FEDTRIMMEDAVG_OPTIONS, o)),
  krum: (o) => new Krum(resolveOptions("krum", KRUM_OPTIONS, o)),
  bulyan: (o) => new Bulyan(resolveOptions("bulyan", BULYAN_OPTIONS, o)),
  dpfedavg: (o) => new DpFedAvg(resolveOptions("dpfedavg", DPFEDAVG_OPTIONS, o)),
};

export const STRATEGY_NAMES: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/**
 * A fresh strategy (stateful ones start at round 1). The name is case-insensitive; unknown names, unknown
 * option keys, non-numeric or out-of-range values and missing required options → UserError.
 */
export function createStrategy(name: string, options: Readonly<Record<string, number>> = {}): Strategy {
  const key = name.trim().toLowerCase();
  if (!Object.hasOwn(FACTORIES, key)) {
    throw new UserError(`Unknown strategy ${JSON.stringify(name)}; valid strategies: ${STRATEGY_NAMES.join(", ")}`);
  }
  return FACTORIES[key](options);
}
