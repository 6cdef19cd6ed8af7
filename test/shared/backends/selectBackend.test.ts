/**
 * Backend selection: `native` is the wasm backend with the OpenBLAS kernels, `auto` picks it whenever
 * the addon is built and falls back to plain wasm otherwise. Fails (does not skip) when the addon is
 * not built. The `auto` cases run in child processes on the compiled tree (globalSetup builds it),
 * because a process selects its backend once.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ATTENTION_KERNEL_NAMES, ENCODER_KERNEL_NAMES } from "../../../shared/backends/encoderKernelNames.js";
import { CONV_POOL_KERNEL_NAMES } from "../../../shared/backends/convPoolKernelNames.js";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { nativeKernelStats, NATIVE_KERNEL_NAMES } from "../../../shared/backends/native/nativeKernels.js";
import { initBackend, type BackendSelection } from "../../../shared/backends/selectBackend.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SELECT = path.join(ROOT, "dist/shared/backends/selectBackend.js");

/** initBackend(choice) in a fresh Node process running the compiled tree. */
function selectInChild(choice: string, env: NodeJS.ProcessEnv = {}): BackendSelection & { backend: string } {
  const script =
    `const { initBackend } = await import(${JSON.stringify(SELECT)});` +
    `const tf = await import("@tensorflow/tfjs-core");` +
    `const s = await initBackend(${JSON.stringify(choice)});` +
    `console.log(JSON.stringify({ ...s, backend: tf.getBackend() }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

/** What `auto` prefers to native where it is available: tfjs-node(-gpu) installed, or a CUDA GPU (docs/gpu.md). */
const BETTER = ["gpu", "node", "cuda"];

describe("native", () => {
  it("is the wasm backend with the native OpenBLAS kernels; the detail counts the kernels and names the BLAS core", async () => {
    const s = await initBackend("native"); // throws with the reason when the addon is not built
    expect(s.name).toBe("native");
    expect(s.tfBackend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    // The replaced kernels, the fused encoder kernels and the fused Adam update.
    expect(s.detail).toMatch(new RegExp(`^wasm \\(SIMD\\) \\+ ${NATIVE_KERNEL_NAMES.length + ENCODER_KERNEL_NAMES.length + ATTENTION_KERNEL_NAMES.length + CONV_POOL_KERNEL_NAMES.length + 1} native kernels on OpenBLAS`));
    expect(s.detail).toMatch(/OpenBLAS [\d.]+.*core \w+/);
    // And products and convolutions now run natively.
    const before = nativeKernelStats()[tf.BatchMatMul]?.native ?? 0;
    const y = tf.tidy(() => tf.matMul(tf.ones([3, 4]), tf.ones([4, 2])));
    expect(Array.from(y.dataSync())).toEqual([4, 4, 4, 4, 4, 4]);
    y.dispose();
    expect(nativeKernelStats()[tf.BatchMatMul]?.native).toBe(before + 1);
  });
});

describe("auto", () => {
  it("picks native when the addon is built", () => {
    const s = selectInChild("auto");
    if (BETTER.includes(s.name)) return; // tfjs-node(-gpu) installed: it comes first
    expect(s.name, `skipped: ${s.skipped.join("; ")}`).toBe("native");
    expect(s.tfBackend).toBe("wasm");
    expect(s.backend).toBe("wasm");
    expect(s.detail).toMatch(/native kernels on OpenBLAS/);
  });

  it("falls back to plain wasm (with the project's gradient kernels and SIMD chain kernels) when the addon is unavailable", () => {
    const s = selectInChild("auto", { FEDFUSION_NATIVE: "off" });
    if (BETTER.includes(s.name)) return;
    expect(s.name).toBe("wasm");
    expect(s.backend).toBe("wasm");
    expect(s.detail).toMatch(/project gradient kernels \+ SIMD chain kernels for conv-block chains$/);
    expect(s.skipped.join("\n")).toMatch(/^native: native addon disabled by FEDFUSION_NATIVE=off$/m);
  });

  it("skips plain wasm, saying why, when the project's SIMD kernels are unavailable", () => {
    const s = selectInChild("auto", { FEDFUSION_NATIVE: "off", FEDFUSION_SIMD: "off" });
    if (BETTER.includes(s.name)) return;
    expect(s.name).toBe("cpu");
    expect(s.skipped.join("\n")).toMatch(/^wasm: the project's SIMD kernels are unavailable: disabled by FEDFUSION_SIMD=off$/m);
  });
});
