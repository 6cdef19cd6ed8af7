import { execFileSync } from "node:child_process";

/** Integration tests start the real `fedfusion` command, so the compiled tree must be current. */
export default function setup(): void {
  execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
}
