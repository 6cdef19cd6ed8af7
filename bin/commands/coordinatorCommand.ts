import { startCoordinator } from "../../coordinator/coordinator.js";
import { isBuiltinDataset, loadBuiltinDataset } from "../../client/data/builtinDatasets.js";
import { loadImageFolder } from "../../client/data/imageFolder.js";
import { describeBackend, initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import { sampleOf, type ImageDataset } from "../../shared/data/imageDataset.js";
import { UserError } from "../../shared/errors.js";
import { createLogger, type Logger } from "../../shared/logging.js";
import { Random } from "../../shared/random.js";
import { resolveModelSpec } from "../../shared/model/modelSpec.js";
import { fusionKnobOptions, fusionKnobs } from "../modelOptions.js";
import { parseCommand, parseShape } from "../cliOptions.js";
import { backendOption, federationOptions, readPem, roundSettingsFrom, strategyFrom } from "../commonOptions.js";

const spec = {
  name: "coordinator",
  summary: "run the coordinator: wait for clients, run rounds, aggregate, evaluate, save the model",
  options: {
    host: { kind: "string", default: "0.0.0.0", help: "address to listen on" },
    port: { kind: "int", min: 0, max: 65535, default: 50051, help: "port to listen on (0 = any free port)" },
    "min-clients": { kind: "int", min: 1, default: 2, help: "clients that must join before the first round" },
    "test-data": { kind: "string", meta: "DIR|fashion-mnist|mnist", help: "central test set; also gives the class list and input shape" },
    "test-samples": { kind: "int", min: 1, help: "evaluate each round on this many test examples, drawn once with --seed (default: all)" },
    classes: { kind: "string", meta: "A,B,...", help: "the federation's class list (default: the test set's)" },
    "input-shape": { kind: "string", meta: "HxWxC", help: "model input (default: the test set's, else 28x28x1)" },
    ...federationOptions,
    ...fusionKnobOptions,
    ...backendOption,
    "tls-cert": { kind: "string", meta: "PEM", help: "server certificate (enables TLS)" },
    "tls-key": { kind: "string", meta: "PEM", help: "server private key" },
    "tls-client-ca": { kind: "string", meta: "PEM", help: "require client certificates signed by this CA" },
    "receive-window": {
      kind: "int", min: 64, max: 2_097_151, default: 4096, meta: "KiB",
      help: "HTTP/2 receive window: the most of an admitted upload in flight per round trip (an upload waiting its turn may send 64 KiB)",
    },
  },
} as const;

export async function coordinatorCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const log = createLogger("coordinator");
  const backend = await initBackend(parseBackendChoice(o.backend));
  log(describeBackend(backend));

  const shape = o["input-shape"] ? parseShape("input-shape", o["input-shape"]) : undefined;
  const classes = o.classes?.split(",").map((c) => c.trim()).filter(Boolean);
  if (o["test-samples"] !== undefined && !o["test-data"]) throw new UserError("coordinator: --test-samples needs --test-data");
  const loaded = o["test-data"] ? await loadTestSet(o["test-data"], shape, classes, log) : undefined;
  const testSet = loaded && sampleOf(loaded, o["test-samples"], new Random(o.seed));
  if (testSet && testSet !== loaded) log(`evaluating each round on ${testSet.count} of the ${loaded!.count} test images`);
  const classNames = classes ?? (testSet ? [...testSet.classNames] : undefined);
  if (!classNames) throw new UserError("coordinator: give --test-data or --classes so the federation has a class list");
  const modelSpec = resolveModelSpec(o.model, shape ?? (testSet ? [testSet.height, testSet.width, testSet.channels] : [28, 28, 1]), classNames, fusionKnobs(o));
  const tlsCert = readPem("tls-cert", o["tls-cert"]);
  const tlsKey = readPem("tls-key", o["tls-key"]);
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new UserError("coordinator: --tls-cert and --tls-key go together");
  const strategy = strategyFrom(o);
  const settings = roundSettingsFrom(o, o["min-clients"], strategy);

  // Handlers before the server starts: a SIGTERM just after "listening on" (a service manager, a test)
  // must stop it gracefully too, not kill it in the moment before they would otherwise be installed.
  let coordinator: Awaited<ReturnType<typeof startCoordinator>> | undefined;
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    void coordinator?.stop("interrupted");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  coordinator = await startCoordinator({
    host: o.host,
    port: o.port,
    spec: modelSpec,
    initModelDir: o["init-model"],
    checkpointDir: o.checkpoint,
    eventsUrl: o.events,
    resume: o.resume ?? false,
    strategy,
    settings,
    testSet,
    outDir: o.out,
    tls: tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey, clientCa: readPem("tls-client-ca", o["tls-client-ca"]) } : undefined,
    config: { command: "coordinator", ...o, backend: backend.name, modelSpec },
    receiveWindowBytes: o["receive-window"] * 1024,
    log,
  });
  if (interrupted) void coordinator.stop("interrupted");
  const result = await coordinator.done;
  const final = result.final;
  log(`done: final accuracy ${final?.accuracy === null || final?.accuracy === undefined ? "-" : (100 * final.accuracy).toFixed(2) + "%"} after ${result.rounds.length} rounds`);
}

async function loadTestSet(source: string, shape: [number, number, number] | undefined, classes: string[] | undefined, log: Logger): Promise<ImageDataset> {
  if (isBuiltinDataset(source)) {
    const { test } = await loadBuiltinDataset(source);
    if (shape && (shape[0] !== test.height || shape[1] !== test.width || shape[2] !== test.channels)) {
      throw new UserError(`--test-data ${source} is ${test.height}x${test.width}x${test.channels}; drop --input-shape or use a folder`);
    }
    return test;
  }
  const [height, width, channels] = shape ?? [28, 28, 1];
  const { dataset, skipped } = await loadImageFolder(source, { height, width, channels: channels as 1 | 3, classNames: classes, warn: (m) => log(`warning: ${m}`) });
  log(`central test set: ${dataset.count} images from ${source}${skipped.length ? `, ${skipped.length} unreadable files skipped` : ""}`);
  return dataset;
}
