/**
 * The fused encoder kernels (native, on wasm) against the composite ops on the cpu reference backend:
 * values and gradients of GELU and layer norm, for the shapes the fusion model uses (test/helpers/encoderCases.ts).
 */
import * as tf from "@tensorflow/tfjs-core";
import { beforeAll } from "vitest";
import { registerNativeKernels } from "../../../shared/backends/native/nativeKernels.js";
import { describeEncoderKernels } from "../../helpers/encoderCases.js";

beforeAll(async () => {
  const r = registerNativeKernels();
  if (!r.ok) throw new Error(`native kernels unavailable: ${r.reason}`);
  await tf.setBackend("wasm");
});

describeEncoderKernels("native");
