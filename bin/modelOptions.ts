/** The fusion model's explicit knobs as flags (coordinator, simulate, train); each overrides the preset's value. */
import { UserError } from "../shared/errors.js";
import type { FusionConfig } from "../shared/model/modelSpec.js";
import type { OptionDefs, ParsedOptions } from "./cliOptions.js";

export const fusionKnobOptions = {
  "stem-channels": { kind: "string", meta: "C1,C2,...", help: "fusion: stem conv blocks' channels, one block each (more blocks are added for large inputs)" },
  "token-dim": { kind: "int", min: 4, max: 4096, help: "fusion: token (embedding) dimension" },
  "encoder-layers": { kind: "int", min: 0, max: 64, help: "fusion: transformer encoder blocks" },
  heads: { kind: "int", min: 1, max: 64, help: "fusion: attention heads (must divide --token-dim)" },
  "mlp-ratio": { kind: "number", min: 0.25, max: 16, help: "fusion: encoder MLP width as a multiple of --token-dim" },
  dropout: { kind: "number", min: 0, max: 0.9, help: "fusion: dropout in the encoder blocks" },
} as const satisfies OptionDefs;

export function fusionKnobs(o: ParsedOptions<typeof fusionKnobOptions>): Partial<FusionConfig> {
  const knobs: Partial<FusionConfig> = {};
  const stem = o["stem-channels"];
  if (stem !== undefined) {
    const channels = stem.split(",").map((c) => Number(c.trim()));
    if (channels.length === 0 || channels.some((c) => !Number.isInteger(c) || c < 1 || c > 4096)) {
      throw new UserError(`--stem-channels must be whole numbers like 32,64, got '${stem}'`);
    }
    knobs.stemChannels = channels;
  }
  if (o["token-dim"] !== undefined) knobs.tokenDim = o["token-dim"];
  if (o["encoder-layers"] !== undefined) knobs.layers = o["encoder-layers"];
  if (o.heads !== undefined) knobs.heads = o.heads;
  if (o["mlp-ratio"] !== undefined) knobs.mlpRatio = o["mlp-ratio"];
  if (o.dropout !== undefined) knobs.dropout = o.dropout;
  return knobs;
}
