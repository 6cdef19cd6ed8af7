#!/usr/bin/env node
/**
 * The `fedfusion` command. A UserError (bad flag, missing folder, refused join, …) is printed as one line
 * with a non-zero exit; anything else is a bug and is printed with its stack.
 */
import { NODE_FLAGS } from "../shared/nodeFlags.js";
import { UserError } from "../shared/errors.js";
import { followLauncher, missingNodeFlags, relaunchWith } from "./relaunch.js";
type Run = (argv: string[]) => Promise<void>;

// Commands load on demand: `--help` and flag errors answer without loading TensorFlow.js.
// `nodeFlags`: V8 flags the command's process needs; it relaunches itself with them when started without.
const COMMANDS: Record<string, { load: () => Promise<Run>; summary: string; nodeFlags?: readonly string[] }> = {
  simulate: { load: async () => (await import("./commands/simulateCommand.js")).simulateCommand, summary: "simulate a federation on this machine (coordinator + clients over loopback gRPC)" },
  coordinator: { load: async () => (await import("./commands/coordinatorCommand.js")).coordinatorCommand, summary: "run the coordinator", nodeFlags: NODE_FLAGS },
  client: { load: async () => (await import("./commands/clientCommand.js")).clientCommand, summary: "run a site's client next to its private images", nodeFlags: NODE_FLAGS },
  train: { load: async () => (await import("./commands/trainCommand.js")).trainCommand, summary: "train centrally on the whole dataset (the baseline)" },
  evaluate: { load: async () => (await import("./commands/evaluateCommand.js")).evaluateCommand, summary: "evaluate a saved model on labelled images" },
  predict: { load: async () => (await import("./commands/predictCommand.js")).predictCommand, summary: "classify image files with a saved model" },
  partition: { load: async () => (await import("./commands/partitionCommand.js")).partitionCommand, summary: "split a dataset into per-client image folders" },
  models: { load: async () => (await import("./commands/modelsCommand.js")).modelsCommand, summary: "list model architectures and their sizes" },
  plot: { load: async () => (await import("./commands/plotCommand.js")).plotCommand, summary: "chart runs side by side (accuracy or loss per round) as an SVG" },
};

function usage(): string {
  const lines = ["usage: fedfusion <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push("", "Run 'fedfusion <command> --help' for a command's options.", "");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  followLauncher();
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new UserError(`unknown command '${name}': expected one of ${Object.keys(COMMANDS).join(", ")}`);
  const missing = missingNodeFlags(command.nodeFlags ?? []);
  if (missing.length > 0) return relaunchWith(missing);
  await (await command.load())(rest);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UserError) process.stderr.write(`fedfusion: ${e.message}\n`);
    else process.stderr.write(`fedfusion: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
