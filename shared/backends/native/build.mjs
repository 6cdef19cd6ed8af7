#!/usr/bin/env node
// Builds the native kernels addon (binding.gyp beside this file) with node-gyp, offline.
//
//   node shared/backends/native/build.mjs           never fails: prints why the addon is unavailable
//   node shared/backends/native/build.mjs --strict  exits 1 when the build fails
//
// Runs from `npm ci` / `npm install` (the package's install script), so by default a machine without a
// C++ toolchain or libopenblas-dev still installs; registerNativeKernels() then reports why it is off.
// node-gyp: npm's bundled copy (npm sets npm_config_node_gyp in scripts), else the one beside this Node.
// Headers: Node's own include/node when present (no download), else node-gyp's cache/download.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const strict = process.argv.includes("--strict");

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    join(dirname(process.execPath), "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  try {
    return createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js");
  } catch {
    return undefined;
  }
}

function give(reason, output = "") {
  const tail = output.trim().split("\n").slice(-15).join("\n");
  if (tail) console.error(tail);
  console.error(`native kernels unavailable: ${reason}`);
  console.error("(the cpu backend keeps tfjs's JS kernels; needs g++, make, python3 and libopenblas-dev)");
  process.exit(strict ? 1 : 0);
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) give("node-gyp not found (npm's bundled copy is used when run from an npm script)");

const args = [nodeGyp, "rebuild", `--directory=${here}`];
const prefix = resolve(dirname(process.execPath), "..");
if (existsSync(join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);

const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
if (r.error) give(`node-gyp did not run: ${r.error.message}`, output);
if (r.status !== 0) {
  let why = `node-gyp exited with ${r.status}`;
  if (/cannot find -lopenblas|openblas.*No such file/i.test(output)) why = "OpenBLAS missing: apt-get install -y libopenblas-dev";
  else if (/not found: make|make: not found|g\+\+: not found|No such file or directory.*(g\+\+|c\+\+)/i.test(output)) why = "no C++ toolchain (g++, make)";
  else if (/python/i.test(output) && /not found|Could not find/i.test(output)) why = "python3 not found (node-gyp needs it)";
  else if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|tarball/i.test(output)) why = "Node headers missing and cannot be downloaded";
  give(why, output);
}
console.log(`native kernels built: ${join(here, "build", "Release", "fedfusion_native.node")}`);
