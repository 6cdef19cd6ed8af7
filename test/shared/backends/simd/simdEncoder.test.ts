/**
 * The fused encoder kernels on plain wasm (no native addon), computed by the project's SIMD kernels on
 * copies of the tensors (shared/backends/simd/onHeap.ts): the same cases as the native ones, against cpu.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { GELU_KERNEL } from "../../../../shared/backends/encoderKernelNames.js";
import { activeNativeAddon } from "../../../../shared/backends/native/activeAddon.js";
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from "../../../../shared/backends/wasmTrainingKernels.js";
import { describeEncoderKernels } from "../../../helpers/encoderCases.js";

beforeAll(async () => {
  registerWasmTrainingKernels(); // no native addon in this file
  await tf.setBackend("wasm");
  expect(activeNativeAddon()).toBeNull();
});

describe("plain wasm", () => {
  it("has the SIMD encoder kernels", () => {
    expect(WASM_TRAINING_KERNELS[GELU_KERNEL]).toMatch(/SIMD/);
    expect(tf.getKernel(GELU_KERNEL, "wasm")).toBeDefined();
  });
});

describeEncoderKernels("SIMD kernels on plain wasm");
