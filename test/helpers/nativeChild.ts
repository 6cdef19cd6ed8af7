/**
 * The start of a script that checks the native addon in a process of its own (the addon's kernel variants
 * are chosen once per process): `a` is the loaded addon, `createHash` node's, and `next()` a seeded
 * pseudo-random number in [0, 1) that `rand(n, scale)` turns into n float32 values in [−scale, scale).
 */
import path from "node:path";
import { ROOT } from "./cli.js";

/** The compiled module that loads the addon, as a string literal for a child script's import(). */
export const NATIVE_ADDON_MODULE = JSON.stringify(path.join(ROOT, "dist/shared/backends/native/nativeAddon.js"));

export function nativeChildPrelude(seed: number): string {
  return `
const { createHash } = await import("node:crypto");
const { loadNativeAddon } = await import(${NATIVE_ADDON_MODULE});
const r = loadNativeAddon();
if (!r.ok) throw new Error(r.reason);
const a = r.addon;
let seed = ${seed};
const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const rand = (n, scale = 0.5) => Float32Array.from({ length: n }, () => (next() - 0.5) * 2 * scale);
`;
}
