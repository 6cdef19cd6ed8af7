/**
 * Round settings and strategy built exactly as `fedfusion coordinator` / `simulate` build them from their
 * flags, so the benchmarks' coordinators run with the CLI's defaults for everything they do not set (and
 * keep doing so when settings are added).
 */
import type { RoundSettings } from "../../coordinator/rounds/types.js";
import type { Strategy } from "../../coordinator/strategies/strategy.js";

export async function cliRoundSettings(flags: string[], minClients: number): Promise<{ settings: RoundSettings; strategy: Strategy }> {
  const { parseCommand } = await import("../../bin/cliOptions.js");
  const { federationOptions, roundSettingsFrom, strategyFrom } = await import("../../bin/commonOptions.js");
  const parsed = parseCommand({ name: "bench", summary: "benchmark coordinator", options: federationOptions }, flags);
  if (!parsed) throw new Error(`bad round flags: ${flags.join(" ")}`);
  const strategy = strategyFrom(parsed.options);
  return { settings: roundSettingsFrom(parsed.options, minClients, strategy), strategy };
}
