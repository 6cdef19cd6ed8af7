/**
 * Running a command in a child Node process started with extra V8 flags, which V8 reads only at start-up and
 * Node refuses in NODE_OPTIONS. The launcher only relays: signals to the child, the child's end to its own;
 * the child ends with its launcher, so killing the launcher (even with SIGKILL) never leaves it running.
 */
import { spawn } from "node:child_process";

const RELAUNCHED = "FEDFUSION_RELAUNCHED";
const RELAYED = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * The flags (compared by name, so a value the user chose wins) this process was not started with; none
 * under a debugger (--inspect…), whose session would otherwise end up in the launcher instead of the command.
 */
export function missingNodeFlags(flags: readonly string[], execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): string[] {
  if ([...execArgv, ...nodeOptions.split(/\s+/)].some((a) => a.startsWith("--inspect"))) return [];
  const name = (flag: string) => flag.split("=")[0];
  return flags.filter((f) => !execArgv.some((a) => name(a) === name(f)));
}

/** Runs this same command line again with `flags` added and exits as the child does; never returns. */
export function relaunchWith(flags: readonly string[]): Promise<never> {
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [RELAUNCHED]: "1" },
  });
  // Ctrl-C reaches the child from the terminal itself, but `kill` and service managers signal this process
  // only: each of these signals is passed on as SIGTERM. Commands stop gracefully on SIGINT or SIGTERM once
  // and die on a repeat, so Ctrl-C (SIGINT from the terminal + SIGTERM from here) is still one graceful stop.
  const relay = () => void child.kill("SIGTERM");
  for (const s of RELAYED) process.on(s, relay);
  return new Promise<never>(() => {
    child.on("error", (e) => {
      process.stderr.write(`fedfusion: could not start ${process.execPath}: ${e.message}\n`);
      process.exit(1);
    });
    child.on("exit", (code, signal) => {
      for (const s of RELAYED) process.removeListener(s, relay);
      if (signal) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}

/** In a relaunched child: end at once if the launcher goes away (its IPC channel closes). */
export function followLauncher(): void {
  if (process.env[RELAUNCHED] !== "1" || !process.channel) return;
  delete process.env[RELAUNCHED];
  process.channel.unref(); // the channel alone must not keep the command alive
  process.on("disconnect", () => process.kill(process.pid, "SIGKILL"));
}
