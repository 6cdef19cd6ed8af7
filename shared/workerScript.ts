import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Whether `script` (a compiled module next to its user, e.g. `new URL("./decodeWorker.js", import.meta.url)`)
 * exists to run in a worker thread. Not when running from TypeScript sources (the unit tests), where only the
 * `.ts` file is there: callers then do the work on their own thread.
 */
export function workerScriptExists(script: URL): boolean {
  return existsSync(fileURLToPath(script));
}
