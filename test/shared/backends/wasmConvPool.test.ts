/**
 * The conv block's kernels on plain wasm (shared/backends/wasmConvPool.ts: the project's SIMD kernels, and
 * XNNPACK's conv for a later block's forward pass), used where the native addon is not built: the same
 * cases as the native kernels, against cpu.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-layers"; // registers tfjs-core's gradients
import { beforeAll, describe, expect, it } from "vitest";
import { CONV_POOL_KERNEL } from "../../../shared/backends/convPoolKernelNames.js";
import { registerWasmTrainingKernels } from "../../../shared/backends/wasmTrainingKernels.js";
import { describeConvPoolBlock } from "../../helpers/convPoolCases.js";

beforeAll(async () => {
  registerWasmTrainingKernels(); // no native addon in this file
  await tf.setBackend("wasm");
});

describe("plain wasm", () => {
  it("has the plain-wasm conv-block kernels, not the addon's", () => {
    const k = tf.getKernel(CONV_POOL_KERNEL, "wasm");
    expect(k?.kernelFunc.name).toBe("convPoolPlainWasm");
  });
});

describeConvPoolBlock("SIMD kernels and XNNPACK");
