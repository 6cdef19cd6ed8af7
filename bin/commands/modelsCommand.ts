import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../shared/backends/selectBackend.js";
import { buildModel } from "../../shared/model/architectures.js";
import { ARCHITECTURES, resolveModelSpec } from "../../shared/model/modelSpec.js";
import { parameterCount, weightSpecs } from "../../shared/model/weights.js";
import { parseCommand, parseShape } from "../cliOptions.js";

const spec = {
  name: "models",
  summary: "list the model architectures with their parameter counts",
  options: {
    "input-shape": { kind: "string", default: "28x28x1", meta: "HxWxC", help: "input size to count parameters for" },
    classes: { kind: "int", min: 2, max: 256, default: 10, help: "number of classes" },
  },
} as const;

export async function modelsCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const shape = parseShape("input-shape", parsed.options["input-shape"]);
  await initBackend("cpu");
  const classes = Array.from({ length: parsed.options.classes }, (_, i) => `class${i}`);
  process.stdout.write(`${"model".padEnd(10)} ${"parameters".padStart(12)}  input      details\n`);
  for (const name of ARCHITECTURES) {
    const s = resolveModelSpec(name, shape, classes);
    const model = buildModel(s);
    const params = parameterCount(weightSpecs(model));
    const details = s.fusion
      ? `stem ${s.fusion.stemChannels.join("/")}, tokens ${s.fusion.tokenDim}d, ${s.fusion.layers} layers, ${s.fusion.heads} heads, mlp x${s.fusion.mlpRatio}`
      : name === "cnn" ? "conv32 → pool → dense" : "conv64 → pool → conv64 → pool → dense128 → dense";
    process.stdout.write(`${name.padEnd(10)} ${params.toLocaleString("en").padStart(12)}  ${shape.join("x").padEnd(10)} ${details}\n`);
    model.dispose();
    tf.disposeVariables();
  }
}
