import { stat } from "node:fs/promises";
import { runClientAgent } from "../../client/agent/clientAgent.js";
import { DEFAULT_RETRY } from "../../client/agent/retry.js";
import { datasetFileSite, imageFolderSite, type StreamMode } from "../../client/agent/siteData.js";
import { SiteTrainer } from "../../client/training/siteTrainer.js";
import { describeBackend, initBackend, parseBackendChoice } from "../../shared/backends/selectBackend.js";
import { UserError } from "../../shared/errors.js";
import { createLogger } from "../../shared/logging.js";
import { ARCHITECTURES, FUSION_PRESETS } from "../../shared/model/modelSpec.js";
import { cryptoNormals } from "../../shared/privacy/gaussianNoise.js";
import { parseCommand, parseShape } from "../cliOptions.js";
import { backendOption, defaultSiteName, localPrivacyFrom, localPrivacyOptions, readPem } from "../commonOptions.js";

const spec = {
  name: "client",
  summary: "run a site's client: join the coordinator, train on local images each round, send only weight deltas",
  options: {
    coordinator: { kind: "string", required: true, meta: "HOST:PORT", help: "the coordinator to dial out to" },
    data: { kind: "string", required: true, meta: "DIR", help: "folder of class sub-folders with PNG/JPEG images (or a .ffds dataset file)" },
    name: { kind: "string", help: "this site's name in the coordinator's logs (default: host name)" },
    model: { kind: "string", choices: ARCHITECTURES, help: "insist on this model (default: the federation's)" },
    "input-shape": { kind: "string", meta: "HxWxC", help: "insist on this input shape (default: the federation's)" },
    stream: { kind: "string", choices: ["auto", "always", "never"], default: "auto", help: "read images per batch instead of holding the shard in memory (auto: when it exceeds --max-shard-mb)" },
    "max-shard-mb": { kind: "number", min: 0, help: "memory budget for an in-memory shard (default $FEDFUSION_MAX_SHARD_MB, else 1024)" },
    "decode-threads": { kind: "int", min: 0, max: 64, help: "image-decoding threads when streaming (default: cores − 1, at most 4)" },
    "verify-stream": { kind: "boolean", help: "when streaming, decode every file once up front to leave out unreadable ones" },
    seed: { kind: "int", min: 0, max: 2 ** 32 - 1, default: 42, help: "seed for the local validation split" },
    "connect-timeout": { kind: "number", min: 0, default: 60, help: "seconds to keep trying to reach the coordinator at start" },
    "retry-budget": { kind: "number", min: 0, default: 300, help: "seconds to ride out a broken link before giving up" },
    ...backendOption,
    ...localPrivacyOptions,
    "tls-ca": { kind: "string", meta: "PEM", help: "CA that signed the coordinator's certificate (enables TLS)" },
    "tls-cert": { kind: "string", meta: "PEM", help: "this client's certificate, for mutual TLS" },
    "tls-key": { kind: "string", meta: "PEM", help: "this client's private key, for mutual TLS" },
  },
} as const;

export async function clientCommand(argv: string[]): Promise<void> {
  const parsed = parseCommand(spec, argv);
  if (!parsed) return;
  const o = parsed.options;
  const siteName = o.name ?? defaultSiteName();
  const privacy = localPrivacyFrom(o, "client");
  const log = createLogger(`client ${siteName}`.slice(0, 24));
  const dataStat = await stat(o.data).catch(() => null);
  if (!dataStat) throw new UserError(`client: data path ${o.data} does not exist`);
  const siteOptions = { stream: o.stream as StreamMode, maxShardMb: o["max-shard-mb"], decodeThreads: o["decode-threads"], verify: o["verify-stream"] ?? false };
  const data = dataStat.isDirectory() ? imageFolderSite(o.data, o.seed, siteOptions) : datasetFileSite(o.data, o.seed, siteOptions);
  const backend = await initBackend(parseBackendChoice(o.backend));
  log(describeBackend(backend));
  if (privacy) log(`local differential privacy: each update clipped to L2 norm ${privacy.clippingNorm}, noise multiplier ${privacy.noiseMultiplier}`);
  const tls = o["tls-ca"] || o["tls-cert"] ? { ca: readPem("tls-ca", o["tls-ca"]), cert: readPem("tls-cert", o["tls-cert"]), key: readPem("tls-key", o["tls-key"]) } : undefined;
  await runClientAgent({
    connection: { address: o.coordinator, tls },
    siteName,
    data,
    model: o.model
      ? { architecture: o.model === "fusion" ? "fusion-s" : o.model, inputShape: o["input-shape"] ? parseShape("input-shape", o["input-shape"]) : null, fusion: FUSION_PRESETS[o.model === "fusion" ? "fusion-s" : o.model] }
      : null,
    backend: backend.name,
    trainerFor: (s) => new SiteTrainer(s),
    retry: { ...DEFAULT_RETRY, budgetMs: o["retry-budget"] * 1000 },
    connectTimeoutMs: o["connect-timeout"] * 1000,
    log,
    // Noise an observer could predict protects nothing: a site's comes from the CSPRNG.
    privacy: privacy && { settings: privacy, normals: cryptoNormals() },
  });
}
