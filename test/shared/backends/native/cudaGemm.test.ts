/**
 * The `cuda` backend: the addon's products through cuBLAS (src/cuda_gemm.cc, loaded with dlopen). CI has no
 * GPU, so a stand-in CUDA runtime and cuBLAS (test/helpers/cudaStub.c, compiled here) takes the GPU's place:
 * the stub's product is the BLAS definition written out on its own, so these tests check the addon's side —
 * the row-major to column-major mapping, the dense copies of padded matrices, the routing threshold, the
 * fallback to the CPU when CUDA fails, and the backend's selection. On a real GPU the same numerics are
 * checked by the gpu benchmark (bench/gpu.ts; docs/gpu.md has an H100's results). Fails (does not skip) when the addon is not built.
 */
import * as tf from "@tensorflow/tfjs-core";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trainLocally } from "../../../../client/training/localTrainer.js";
import { loadNativeAddon, type NativeAddon } from "../../../../shared/backends/native/nativeAddon.js";
import { describeBackend, initBackend } from "../../../../shared/backends/selectBackend.js";
import { buildModel } from "../../../../shared/model/architectures.js";
import { resolveModelSpec } from "../../../../shared/model/modelSpec.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const SELECT = path.join(ROOT, "dist/shared/backends/selectBackend.js");
const STUB_SOURCE = path.join(ROOT, "test/helpers/cudaStub.c");

let stubDir = "";
let addon: NativeAddon;

beforeAll(() => {
  stubDir = mkdtempSync(path.join(os.tmpdir(), "fedfusion-cuda-stub-"));
  for (const lib of ["libcudart.so.13", "libcublas.so.13"]) {
    execFileSync("cc", ["-shared", "-fPIC", "-O1", "-o", path.join(stubDir, lib), STUB_SOURCE]);
  }
  const load = loadNativeAddon();
  if (!load.ok) throw new Error(load.reason);
  addon = load.addon;
  const opened = addon.cudaOpen(stubDir);
  if (!opened.ok) throw new Error(opened.reason);
});

afterAll(() => {
  addon?.cudaRoute(0);
  delete process.env.STUB_CUDA_FAIL;
  if (stubDir) rmSync(stubDir, { recursive: true, force: true });
});

/** Deterministic values in [-0.5, 0.5). */
function pattern(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function expectClose(actual: Float32Array, expected: Float32Array, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tolerance);
}

interface Product {
  ta: boolean;
  tb: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  pad: number;
}

/** C = alpha·op(A)·op(B) + beta·C with every leading dimension `pad` wider than its matrix, on the CPU or routed. */
function product(p: Product, minFlops: number): Float32Array {
  const aRows = p.ta ? p.K : p.M, aCols = p.ta ? p.M : p.K;
  const bRows = p.tb ? p.N : p.K, bCols = p.tb ? p.K : p.N;
  const lda = aCols + p.pad, ldb = bCols + p.pad, ldc = p.N + p.pad;
  const A = pattern(aRows * lda, 1), B = pattern(bRows * ldb, 2), C = pattern(p.M * ldc, 3);
  addon.cudaRoute(minFlops);
  try {
    addon.sgemm(p.ta, p.tb, p.M, p.N, p.K, p.alpha, A, lda, B, ldb, p.beta, C, ldc);
  } finally {
    addon.cudaRoute(0);
  }
  return C;
}

describe("cuBLAS products (stub GPU)", () => {
  it("opens the runtime and cuBLAS from the folder named, and reports the device", () => {
    expect(addon.cudaOpen(stubDir)).toEqual({
      ok: true, device: "fedfusion stub GPU", major: 13, runtimeVersion: 13000, driverVersion: 13010, multiprocessors: 7, memoryBytes: 2 ** 31,
    });
  });

  it("computes what OpenBLAS computes for every transpose, padded leading dimensions, alpha and beta (padding left untouched)", () => {
    addon.cudaStats(true);
    let routed = 0;
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        for (const beta of [0, 0.5]) {
          for (const pad of [0, 3]) {
            const p = { ta, tb, M: 5, N: 7, K: 3, alpha: 1.5, beta, pad };
            expectClose(product(p, 1), product(p, 0), 1e-6);
            routed++;
          }
        }
      }
    }
    const stats = addon.cudaStats();
    expect(stats.gpuGemms).toBe(routed);
    expect(stats.gpuFlops).toBe(routed * 2 * 5 * 7 * 3);
    expect(stats.failures).toBe(0);
  });

  it("keeps products below the threshold on the CPU", () => {
    addon.cudaStats(true);
    const p = { ta: false, tb: false, M: 5, N: 7, K: 3, alpha: 1, beta: 0, pad: 0 };
    product(p, 2 * 5 * 7 * 3 + 1);
    product(p, 2 * 5 * 7 * 3);
    expect(addon.cudaStats()).toMatchObject({ gpuGemms: 1, cpuGemms: 1, cpuFlops: 210, gpuFlops: 210 });
  });

  it("computes a product on the CPU when CUDA fails, and counts and keeps the failure", () => {
    const cases = [
      { fail: "sgemm", message: /^cublasSgemm: status 13$/, p: { ta: true, tb: false, M: 300, N: 260, K: 40, alpha: 1, beta: 0.25, pad: 1 } },
      // Larger than any product so far, so the thread's device buffers must grow: a cudaMalloc.
      { fail: "malloc", message: /^cudaMalloc: out of memory \(stub\) \(2\)$/, p: { ta: false, tb: true, M: 900, N: 300, K: 40, alpha: 1, beta: 0.25, pad: 1 } },
    ];
    for (const { fail, message, p } of cases) {
      const expected = product(p, 0);
      addon.cudaStats(true);
      process.env.STUB_CUDA_FAIL = fail;
      try {
        expectClose(product(p, 1), expected, 1e-6);
      } finally {
        delete process.env.STUB_CUDA_FAIL;
      }
      const stats = addon.cudaStats();
      expect(stats).toMatchObject({ failures: 1, gpuGemms: 0, cpuGemms: 1 });
      expect(stats.lastError).toMatch(message);
    }
  });

  it("rejects a negative threshold", () => {
    expect(() => addon.cudaRoute(-1)).toThrow(/minFlops must be >= 0/);
  });
});

describe("training with products on the (stub) GPU", () => {
  const CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  const data = (() => {
    const count = 64;
    const images = Uint8Array.from(pattern(count * 28 * 28, 9), (v) => Math.floor((v + 0.5) * 256));
    return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10), count, height: 28, width: 28, channels: 1, classNames: CLASSES };
  })();

  async function train(name: string, minFlops: number) {
    const model = buildModel(resolveModelSpec(name, [28, 28, 1], CLASSES));
    model.setWeights(model.getWeights().map((w, i) => tf.tensor(pattern(w.size, 100 + i).map((v) => v * 0.2), w.shape)));
    addon.cudaStats(true);
    addon.cudaRoute(minFlops);
    try {
      const result = await trainLocally(model, data, { epochs: 2, batchSize: 16, learningRate: 0.001, optimizer: "adam", proximalMu: 0, seed: 7 });
      const weights = model.getWeights().map((w) => w.dataSync() as Float32Array);
      return { result, weights, stats: addon.cudaStats() };
    } finally {
      addon.cudaRoute(0);
      model.dispose();
    }
  }

  for (const name of ["fusion-s", "cnn"]) {
    it(`${name}: every product of the steps on the GPU, the same losses and weights as on the CPU`, async () => {
      await initBackend("native");
      const cpu = await train(name, 0);
      const gpu = await train(name, 1);
      expect(cpu.stats.gpuGemms).toBe(0);
      expect(gpu.stats.gpuGemms).toBeGreaterThan(0);
      expect(gpu.stats.cpuGemms).toBe(0);
      expect(gpu.stats.failures).toBe(0);
      expect(gpu.result.runner).toBe(cpu.result.runner);
      expect(Math.abs(gpu.result.loss - cpu.result.loss)).toBeLessThan(1e-4 * (1 + cpu.result.loss));
      gpu.weights.forEach((w, i) => expectClose(w, cpu.weights[i]!, 1e-4));
    });
  }
});

/** initBackend(choice) in a fresh Node process running the compiled tree (a process selects its backend once). */
function selectInChild(choice: string, env: NodeJS.ProcessEnv) {
  const script =
    `const { initBackend } = await import(${JSON.stringify(SELECT)});` +
    `try { console.log(JSON.stringify(await initBackend(${JSON.stringify(choice)}))); }` +
    `catch (e) { console.log(JSON.stringify({ error: e.message, user: e.constructor.name })); }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

describe("backend cuda", () => {
  it("is the native backend with products of at least the threshold on the GPU, and auto picks it where CUDA works", () => {
    for (const choice of ["cuda", "auto"]) {
      const s = selectInChild(choice, { FEDFUSION_CUDA_LIB_DIRS: stubDir, FEDFUSION_CUDA_MIN_MFLOP: "2.5" });
      expect(s.name).toBe("cuda");
      expect(s.tfBackend).toBe("wasm");
      expect(s.detail).toMatch(
        /^wasm \(SIMD\) \+ \d+ native kernels on OpenBLAS .*; products of ≥ 2\.5 MFLOP on fedfusion stub GPU \(7 SMs, 2 GiB\) through cuBLAS, CUDA runtime 13\.0, driver 13\.1$/,
      );
    }
  });

  it("is unavailable, saying why, without a device; auto then takes native", () => {
    const env = { FEDFUSION_CUDA_LIB_DIRS: stubDir, STUB_CUDA_DEVICES: "0" };
    expect(selectInChild("cuda", env).error).toBe("backend 'cuda' is not available here (cuda: no CUDA device)");
    const auto = selectInChild("auto", env);
    expect(auto.name).toBe("native");
    expect(auto.skipped).toContain("cuda: no CUDA device");
    // What the commands log, so a site's admin sees why its GPU went unused.
    expect(describeBackend(auto)).toMatch(/^backend native: wasm \(SIMD\) .* \(skipped: (.*; )?cuda: no CUDA device(; .*)?\)$/);
  });

  it("rejects a bad threshold with one line naming the variable, also under auto", () => {
    for (const choice of ["cuda", "auto"]) {
      const s = selectInChild(choice, { FEDFUSION_CUDA_LIB_DIRS: stubDir, FEDFUSION_CUDA_MIN_MFLOP: "lots" });
      expect(s).toEqual({ error: "FEDFUSION_CUDA_MIN_MFLOP must be a number of MFLOP > 0 (got 'lots')", user: "UserError" });
    }
  });
});
