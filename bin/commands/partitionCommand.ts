import path from "node:path";
import { capPartition, formatHistograms, parsePartitionSpec, partitionIndices } from "../../client/data/partition.js";
import { resolveDataset } from "../../client/data/resolveDataset.js";
import { writeImageFolder } from "../../client/data/writeImageFolder.js";
import { sampleOf, subset } from "../../shared/data/imageDataset.js";
import { UserError } from "../../shared/errors.js";
import { Random } from "../../shared/random.js";
import { parseCommand } from "../cliOptions.js";

const spec = {
  name: "partition",
  summary: "split a dataset into one image folder per client (PNG files in class sub-folders) plus a test folder",
  options: {
    dataset: { kind: "string", default: "fashion-mnist", meta: "fashion-mnist|mnist|DIR", help: "data to split" },
    clients: { kind: "int", min: 1, max: 10000, default: 3, help: "number of client folders" },
    partition: { kind: "string", default: "iid", meta: "iid|dirichlet:A|shards:K|quantity:A", help: "how the data is split" },
    samples: { kind: "int", min: 1, help: "per-client cap on examples (default: all)" },
    "test-samples": { kind: "int", min: 0, help: "cap on test examples (default: all)" },
    seed: { kind: "int", min: 0, max: 2 ** 32 - 1, default: 42, help: "seed for the split" },
    out: { kind: "string", required: true, meta: "DIR", help: "writes DIR/client-1 ... DIR/client-N and DIR/test" },
  },
} as const;

export async function partitionCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const partition = parsePartitionSpec(o.partition);
  const data = await resolveDataset(o.dataset, { warn: (m) => process.stderr.write(`warning: ${m}\n`) });
  const rng = new Random(o.seed);
  const parts = capPartition(partitionIndices(data.train.labels.subarray(0, data.train.count), data.train.classNames.length, o.clients, partition, o.seed), o.samples, o.seed);
  process.stdout.write(formatHistograms(parts, data.train.labels, data.train.classNames) + "\n");
  for (const [i, idx] of parts.entries()) {
    const dir = path.join(o.out, `client-${i + 1}`);
    await writeImageFolder(dir, subset(data.train, idx));
    process.stdout.write(`wrote ${idx.length} images to ${dir}\n`);
  }
  if (data.test) {
    const test = sampleOf(data.test, o["test-samples"], rng);
    await writeImageFolder(path.join(o.out, "test"), test);
    process.stdout.write(`wrote ${test.count} test images to ${path.join(o.out, "test")}\n`);
  } else if (parts.length === 0) {
    throw new UserError("partition: nothing to write");
  }
}
