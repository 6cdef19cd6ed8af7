/** Strategy options: numeric key=value pairs, checked against each strategy's declared options. */
import { UserError } from "../../shared/errors.js";

export interface OptionSpec {
  /** Used when the option is not given; an option without a default is required. */
  default?: number;
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  integer?: boolean;
  /** A few words for messages and help text. */
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** A readable statement of the values an option accepts, e.g. "a number in [0, 1)" or "an integer ≥ 0". */
export function describeRange(spec: OptionSpec): string {
  const kind = spec.integer ? "an integer" : "a number";
  const { min, max } = spec;
  if (min !== undefined && max !== undefined) {
    return `${kind} in ${spec.minExclusive ? "(" : "["}${min}, ${max}${spec.maxExclusive ? ")" : "]"}`;
  }
  if (min !== undefined) return `${kind} ${spec.minExclusive ? ">" : "≥"} ${min}`;
  if (max !== undefined) return `${kind} ${spec.maxExclusive ? "<" : "≤"} ${max}`;
  return kind;
}

function accepts(spec: OptionSpec, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  if (spec.integer && !Number.isInteger(value)) return false;
  if (spec.min !== undefined && (spec.minExclusive ? value <= spec.min : value < spec.min)) return false;
  if (spec.max !== undefined && (spec.maxExclusive ? value >= spec.max : value > spec.max)) return false;
  return true;
}

function listOptions(specs: OptionSpecs): string {
  return Object.entries(specs)
    .map(([key, spec]) => (spec.default === undefined ? `${key} (required)` : `${key} (default ${spec.default})`))
    .join(", ");
}

/**
 * The options of `strategy` with defaults filled in. Unknown keys, non-numbers, out-of-range values and
 * missing required options → UserError naming the problem and the valid options.
 */
export function resolveOptions<K extends string>(
  strategy: string,
  specs: Record<K, OptionSpec>,
  given: Readonly<Record<string, number>>,
): Record<K, number> {
  const keys = Object.keys(specs) as K[];
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(specs, key)) {
      throw new UserError(
        keys.length === 0
          ? `Strategy ${strategy} takes no options, got "${key}"`
          : `Unknown option "${key}" for strategy ${strategy}; valid options: ${listOptions(specs)}`,
      );
    }
  }
  const resolved = {} as Record<K, number>;
  for (const key of keys) {
    const spec: OptionSpec = specs[key];
    const value: unknown = Object.hasOwn(given, key) ? given[key] : spec.default;
    if (value === undefined) {
      throw new UserError(`Strategy ${strategy} requires option ${key} (${describeRange(spec)}: ${spec.description}), e.g. ${key}=0.01`);
    }
    if (typeof value !== "number" || !accepts(spec, value)) {
      throw new UserError(`Option ${key} of strategy ${strategy} must be ${describeRange(spec)}, got ${formatValue(value)}`);
    }
    resolved[key] = value;
  }
  return resolved;
}

function formatValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

const KEY = /^[A-Za-z][A-Za-z0-9_]*$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses ["eta=0.1", "beta1=0.9"] (a comma-separated "eta=0.1,beta1=0.9" works too) into {eta: 0.1, beta1: 0.9}.
 * Bad syntax, a non-decimal value or a repeated key → UserError. Which keys are valid is checked by createStrategy().
 */
export function parseStrategyOptions(pairs: readonly string[]): Record<string, number> {
  const options: Record<string, number> = {};
  for (const arg of pairs) {
    for (const pair of arg.split(",")) {
      const eq = pair.indexOf("=");
      const key = eq < 0 ? "" : pair.slice(0, eq).trim();
      const text = eq < 0 ? "" : pair.slice(eq + 1).trim();
      if (!KEY.test(key) || !NUMBER.test(text)) {
        throw new UserError(`Bad strategy option ${JSON.stringify(arg)}: expected key=number, e.g. eta=0.1 or numMalicious=2`);
      }
      if (Object.hasOwn(options, key)) throw new UserError(`Strategy option ${key} is given more than once`);
      const value = Number(text);
      if (!Number.isFinite(value)) throw new UserError(`Strategy option ${key}=${text} is too large`);
      options[key] = value;
    }
  }
  return options;
}
