import os from "node:os";
import { parsePartitionSpec } from "../../client/data/partition.js";
import { resolveDataset } from "../../client/data/resolveDataset.js";
import { describeBackend, initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import { sampleOf } from "../../shared/data/imageDataset.js";
import { createLogger } from "../../shared/logging.js";
import { resolveModelSpec } from "../../shared/model/modelSpec.js";
import { Random } from "../../shared/random.js";
import { fusionKnobOptions, fusionKnobs } from "../modelOptions.js";
import { parseCommand } from "../cliOptions.js";
import { backendOption, federationOptions, localPrivacyFrom, localPrivacyOptions, roundSettingsFrom, strategyFrom } from "../commonOptions.js";
import { parseAttack } from "../simulation/attacks.js";
import { runSimulation } from "../simulation/simulation.js";
import { UserError } from "../../shared/errors.js";

const spec = {
  name: "simulate",
  summary: "simulate a federation on this machine: a coordinator and N clients as real gRPC peers on loopback",
  options: {
    dataset: { kind: "string", default: "fashion-mnist", meta: "fashion-mnist|mnist|DIR", help: "data to partition over the clients" },
    clients: { kind: "int", min: 1, max: 10000, default: 10, help: "number of clients" },
    partition: { kind: "string", default: "iid", meta: "iid|dirichlet:A|shards:K|quantity:A", help: "how the data is split over clients" },
    samples: { kind: "int", min: 1, default: 2000, help: "per-client cap on training examples" },
    "test-samples": { kind: "int", min: 0, help: "cap on central test examples (default: all)" },
    workers: { kind: "int", min: 1, max: 256, help: "client worker processes (default: one per core)" },
    verbose: { kind: "boolean", help: "show every client's log" },
    byzantine: { kind: "int", min: 0, default: 0, help: "clients that tamper with their updates (robustness experiments)" },
    attack: { kind: "string", default: "scale:100", meta: "scale:K|signflip[:K]", help: "what Byzantine clients do to their delta" },
    ...federationOptions,
    // The main job's default: 10 rounds reach ~85% on Fashion-MNIST in a minute or two on 2 cores.
    rounds: { ...federationOptions.rounds, default: 10 },
    ...fusionKnobOptions,
    ...backendOption,
    ...localPrivacyOptions,
  },
} as const;

export async function simulateCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const started = Date.now();
  const log = createLogger("simulate");
  const partition = parsePartitionSpec(o.partition);
  const attack = parseAttack(o.attack);
  if (o.byzantine > o.clients) throw new UserError(`simulate: --byzantine ${o.byzantine} exceeds --clients ${o.clients}`);
  const strategy = strategyFrom(o);
  const privacy = localPrivacyFrom(o, "simulate");
  const backend = await initBackend(parseBackendChoice(o.backend));
  log(describeBackend(backend));
  const data = await resolveDataset(o.dataset, { warn: (m) => log(`warning: ${m}`) });
  const test = data.test && sampleOf(data.test, o["test-samples"], new Random(o.seed));
  const modelSpec = resolveModelSpec(o.model, [data.train.height, data.train.width, data.train.channels], [...data.train.classNames], fusionKnobs(o));
  const settings = roundSettingsFrom(o, o.clients, strategy);
  const result = await runSimulation({
    train: data.train,
    test,
    spec: modelSpec,
    clients: o.clients,
    partition,
    samplesPerClient: o.samples,
    workers: o.workers ?? Math.min(os.availableParallelism(), o.clients),
    backend: backend.name,
    strategy,
    settings,
    initModelDir: o["init-model"],
    checkpointDir: o.checkpoint,
    eventsUrl: o.events,
    resume: o.resume ?? false,
    outDir: o.out,
    config: { command: "simulate", ...o, backend: backend.name, modelSpec },
    verbose: o.verbose ?? false,
    byzantine: o.byzantine > 0 ? { count: o.byzantine, attack } : undefined,
    privacy,
    log: createLogger("coordinator"),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const acc = result.final?.accuracy;
  process.stdout.write(
    `final test accuracy: ${acc === null || acc === undefined ? "n/a (no test set)" : (100 * acc).toFixed(2) + "%"}` +
      ` (${o.model}, ${o.clients} clients, ${result.rounds.length} rounds, ${seconds}s)\n`,
  );
}
