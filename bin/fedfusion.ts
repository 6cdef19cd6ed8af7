#!/usr/bin/env node
/**
 * The `fedfusion` command. A UserError (bad flag, missing folder, refused join, …) is printed as one line
 * with a non-zero exit; anything else is a bug and is printed with its stack.
 */
import { UserError } from "../shared/errors.js";
import { clientCommand } from "./commands/clientCommand.js";
import { coordinatorCommand } from "./commands/coordinatorCommand.js";
import { evaluateCommand } from "./commands/evaluateCommand.js";
import { modelsCommand } from "./commands/modelsCommand.js";
import { partitionCommand } from "./commands/partitionCommand.js";
import { predictCommand } from "./commands/predictCommand.js";
import { simulateCommand } from "./commands/simulateCommand.js";

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; summary: string }> = {
  simulate: { run: simulateCommand, summary: "simulate a federation on this machine (coordinator + clients over loopback gRPC)" },
  coordinator: { run: coordinatorCommand, summary: "run the coordinator" },
  client: { run: clientCommand, summary: "run a site's client next to its private images" },
  evaluate: { run: evaluateCommand, summary: "evaluate a saved model on labelled images" },
  predict: { run: predictCommand, summary: "classify image files with a saved model" },
  partition: { run: partitionCommand, summary: "split a dataset into per-client image folders" },
  models: { run: modelsCommand, summary: "list model architectures and their sizes" },
};

function usage(): string {
  const lines = ["usage: fedfusion <command> [options]", "", "commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push("", "Run 'fedfusion <command> --help' for a command's options.", "");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new UserError(`unknown command '${name}': expected one of ${Object.keys(COMMANDS).join(", ")}`);
  await command.run(rest);
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
