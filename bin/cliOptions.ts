/**
 * Declarative command-line options on top of node:util parseArgs: each command lists its flags once, with
 * type, default and help; parsing validates every value and turns any mistake into a one-line UserError.
 */
import { parseArgs } from "node:util";
import { UserError } from "../shared/errors.js";

type Kind = "string" | "int" | "number" | "boolean" | "list";

export interface OptionDef {
  kind: Kind;
  help: string;
  default?: string | number | boolean;
  /** Inclusive bounds for numbers. */
  min?: number;
  max?: number;
  choices?: readonly string[];
  required?: boolean;
  /** Shown in help instead of the kind, e.g. "HOST:PORT". */
  meta?: string;
}

export type OptionDefs = Record<string, OptionDef>;

type ValueOf<D extends OptionDef> = D["kind"] extends "int" | "number"
  ? number
  : D["kind"] extends "boolean"
    ? boolean
    : D["kind"] extends "list"
      ? string[]
      : string;

export type ParsedOptions<T extends OptionDefs> = { [K in keyof T]: T[K]["required"] extends true ? ValueOf<T[K]> : T[K] extends { default: unknown } ? ValueOf<T[K]> : ValueOf<T[K]> | undefined };

export interface CommandSpec<T extends OptionDefs> {
  name: string;
  summary: string;
  usage?: string;
  options: T;
  /** Positional arguments allowed (e.g. image files for predict). */
  positionals?: string;
}

export function parseCommand<T extends OptionDefs>(spec: CommandSpec<T>, argv: string[]): { options: ParsedOptions<T>; positionals: string[] } | null {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText(spec));
    return null;
  }
  const config: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, def] of Object.entries(spec.options)) {
    config[name] = { type: def.kind === "boolean" ? "boolean" : "string", multiple: def.kind === "list" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: Boolean(spec.positionals), strict: true });
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0].replace(/\. To specify a positional argument.*$/, "");
    throw new UserError(`${spec.name}: ${msg} (see 'fedfusion ${spec.name} --help')`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(spec.options)) {
    const raw = (parsed.values as Record<string, unknown>)[name];
    if (raw === undefined) {
      if (def.required) throw new UserError(`${spec.name}: --${name} is required (${def.help})`);
      out[name] = def.kind === "list" ? [] : def.default;
      continue;
    }
    out[name] = convert(spec.name, name, def, raw);
  }
  return { options: out as ParsedOptions<T>, positionals: parsed.positionals };
}

function convert(command: string, name: string, def: OptionDef, raw: unknown): unknown {
  const bad = (why: string) => new UserError(`${command}: --${name} ${why}`);
  switch (def.kind) {
    case "boolean":
    case "list":
      return raw;
    case "string": {
      const s = String(raw);
      if (def.choices && !def.choices.includes(s)) throw bad(`must be one of ${def.choices.join(", ")}, got '${s}'`);
      if (s === "") throw bad("must not be empty");
      return s;
    }
    case "int":
    case "number": {
      const s = String(raw).trim();
      const n = Number(s);
      if (s === "" || !Number.isFinite(n)) throw bad(`must be a number, got '${raw}'`);
      if (def.kind === "int" && !Number.isInteger(n)) throw bad(`must be a whole number, got '${raw}'`);
      if (def.min !== undefined && n < def.min) throw bad(`must be at least ${def.min}, got ${n}`);
      if (def.max !== undefined && n > def.max) throw bad(`must be at most ${def.max}, got ${n}`);
      return n;
    }
  }
}

export function helpText<T extends OptionDefs>(spec: CommandSpec<T>): string {
  const lines = [`fedfusion ${spec.name}: ${spec.summary}`, "", `usage: ${spec.usage ?? `fedfusion ${spec.name} [options]${spec.positionals ? ` ${spec.positionals}` : ""}`}`, "", "options:"];
  for (const [name, def] of Object.entries(spec.options)) {
    const meta = def.kind === "boolean" ? "" : ` ${def.meta ?? (def.choices ? def.choices.join("|") : def.kind.toUpperCase())}`;
    const dflt = def.default !== undefined && def.kind !== "boolean" ? ` (default ${def.default})` : def.required ? " (required)" : "";
    lines.push(`  --${name}${meta}`.padEnd(34) + ` ${def.help}${dflt}`);
  }
  lines.push("  --help".padEnd(34) + " show this help", "");
  return lines.join("\n");
}

/** "28x28x1" → [28, 28, 1]. */
export function parseShape(flag: string, s: string): [number, number, number] {
  const m = /^(\d+)x(\d+)x(1|3)$/.exec(s.trim());
  if (!m) throw new UserError(`--${flag} must look like 28x28x1 or 64x64x3, got '${s}'`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}
