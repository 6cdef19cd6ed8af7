import { resolveDataset } from "../../client/data/resolveDataset.js";
import { initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import { evaluateModel } from "../../shared/model/evaluate.js";
import { loadModel } from "../../shared/model/modelStore.js";
import { parseCommand } from "../cliOptions.js";
import { backendOption } from "../commonOptions.js";

const spec = {
  name: "evaluate",
  summary: "evaluate a saved model on labelled images",
  options: {
    model: { kind: "string", required: true, meta: "DIR", help: "saved model directory (as written by --out DIR/model)" },
    data: { kind: "string", required: true, meta: "DIR|fashion-mnist|mnist", help: "class sub-folders of images (built-in names: their test split)" },
    json: { kind: "boolean", help: "print { accuracy, loss, examples } as JSON" },
    ...backendOption,
  },
} as const;

export async function evaluateCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  await initBackend(parseBackendChoice(o.backend));
  const { model, meta } = await loadModel(o.model);
  const [height, width, channels] = meta.spec.inputShape;
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  const data = await resolveDataset(o.data, { height, width, channels: channels as 1 | 3, classNames: meta.spec.classNames, warn });
  // A folder without train/test parts is evaluated whole; a built-in dataset or a split folder by its test part.
  const set = data.test ?? data.train;
  const r = await evaluateModel(model, set);
  if (o.json) process.stdout.write(JSON.stringify({ accuracy: r.accuracy, loss: r.loss, examples: r.examples }) + "\n");
  else process.stdout.write(`accuracy ${(100 * r.accuracy).toFixed(2)}%  loss ${r.loss.toFixed(4)}  examples ${r.examples}\n`);
}
