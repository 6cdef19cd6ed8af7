#!/usr/bin/env node
// Rebuilds kernels.wasm (beside this file) from src/kernels.cc with clang and wasm-ld (Debian: apt-get
// install clang-16 lld-16). kernels.wasm is committed, so installing fedfusion needs no compiler; CI
// rebuilds it and fails when the committed file differs from the source's build (.ci/run).
//
//   node shared/backends/simd/build.mjs      (npm run build:simd)
//
// CLANG names the compiler (default clang-16, else clang); it must find wasm-ld (lld) on its own.
import { spawnSync } from "node:child_process";
import { chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const flags = [
  "--target=wasm32",
  "-O3",
  "-msimd128",
  "-mbulk-memory",
  "-nostdlib",
  "-std=c++17",
  "-fno-exceptions",
  "-fno-rtti",
  // float32 arithmetic exactly as written: Adam must round where tfjs's kernels do.
  "-ffp-contract=off",
  "-Wall",
  "-Werror",
  "-Wl,--no-entry",
  "-Wl,--import-memory",
  "-Wl,--export=__heap_base",
  "-Wl,-z,stack-size=65536",
  "-Wl,--strip-all",
  join(here, "src", "kernels.cc"),
  "-o",
  join(here, "kernels.wasm"),
];

const candidates = process.env.CLANG ? [process.env.CLANG] : ["clang-16", "clang"];
for (const clang of candidates) {
  const r = spawnSync(clang, flags, { encoding: "utf8", cwd: here });
  if (r.error && r.error.code === "ENOENT") continue;
  process.stderr.write(`${r.stdout ?? ""}${r.stderr ?? ""}`);
  if (r.status !== 0) {
    console.error(`simd kernels: ${clang} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  // wasm-ld marks its output executable; the committed file is plain data.
  chmodSync(join(here, "kernels.wasm"), 0o644);
  console.log(`simd kernels built with ${clang}: ${join(here, "kernels.wasm")}`);
  process.exit(0);
}
console.error(`simd kernels: no compiler (${candidates.join(", ")}): apt-get install clang-16 lld-16, or set CLANG`);
process.exit(1);
