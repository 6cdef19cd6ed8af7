/** The round state machine's vocabulary: plain data, no transport types. */
import type { LearningRateSchedule } from "../../shared/model/learningRateSchedule.js";
import type { FederateMode } from "../../shared/model/federatedParts.js";

export interface TrainingSettings {
  localEpochs: number;
  batchSize: number;
  /** The base rate; each round's task carries the rate the schedule gives for that round. */
  learningRate: number;
  learningRateSchedule: LearningRateSchedule;
  optimizer: "adam" | "sgd";
  proximalMu: number;
  /** Which weights clients train and send (partial federation). */
  federate: FederateMode;
  /** Random flips and padded crops of the clients' training images. */
  augment: { flip: boolean; cropPadding: number };
  /** How clients encode their update; a client that cannot falls back to float32. */
  updateEncoding: UpdateEncoding;
  /**
   * How the global model travels to the clients that decode it (the others get float32); default float32.
   * The coordinator keeps its float32 weights and applies the deltas to them: a client trains from the
   * rounded copy and sends what it changed, so the rounding never accumulates in the global model.
   */
  downloadEncoding?: DownloadEncodingName;
}

export type EncodingName = "float32" | "float16" | "int8" | "topk";
/** Encodings the global model may travel in (top-k would drop weights, not just round them). */
export type DownloadEncodingName = Exclude<EncodingName, "topk">;

export interface UpdateEncoding {
  encoding: EncodingName;
  /** topk: share of each tensor's entries sent. */
  topkFraction: number;
}

export interface RoundSettings {
  rounds: number;
  /** Clients that must have joined before the first round starts. */
  minClients: number;
  /** Share of connected clients selected each round (at least minFitClients). */
  fraction: number;
  minFitClients: number;
  /** A round closes with whatever arrived when this passes. */
  roundTimeoutMs: number;
  /** A session not heard from for this long is closed (see Heartbeat in the proto); 0 or absent: never. */
  sessionTimeoutMs?: number;
  seed: number;
  training: TrainingSettings;
  /** Updates whose L2 norm exceeds this are rejected (0 = no bound). */
  maxUpdateNorm: number;
}

export interface ClientInfo {
  siteName: string;
  numExamples: number;
  backend: string;
  /** Update encodings the client can produce. */
  encodings: EncodingName[];
  /** The client process's own id (see JoinRequest.instance_id); absent from clients that send none. */
  instanceId?: string;
}

export interface ClientRecord extends ClientInfo {
  sessionId: string;
  joinedAt: number;
  /** When the client last called (any call, heartbeats included). */
  lastSeen: number;
}

export type Task =
  | { kind: "train"; round: number; modelVersion: number; seed: number; deadline: number; training: TrainingSettings }
  | { kind: "evaluate"; round: number; modelVersion: number }
  | { kind: "wait"; reason: string }
  | { kind: "finished"; reason: string; finalModelVersion: number };

export interface TrainMetrics {
  loss: number;
  accuracy: number;
  steps: number;
  trainMillis: number;
  skippedFiles: number;
}

export interface Update {
  round: number;
  baseModelVersion: number;
  numExamples: number;
  metrics: TrainMetrics;
  /** local − global, one array per model weight. */
  delta: Float32Array[];
}

export type UpdateVerdict = { accepted: true } | { accepted: false; reason: string; detail: string };

export interface CentralEvaluation {
  loss: number;
  accuracy: number;
  examples: number;
}

export interface SiteEvaluation {
  modelVersion: number;
  examples: number;
  loss: number;
  accuracy: number;
}

/** Clients' evaluations of one global model on their held-out data, weighted by example counts. */
export interface FederatedEvaluation {
  modelVersion: number;
  loss: number;
  accuracy: number;
  examples: number;
  minAccuracy: number;
  maxAccuracy: number;
  sites: Record<string, { examples: number; loss: number; accuracy: number }>;
}

export interface RoundRecord {
  round: number;
  modelVersion: number;
  /** Central evaluation of the new global model (null when the coordinator has no test set). */
  accuracy: number | null;
  loss: number | null;
  /** Clients whose updates were aggregated. */
  clients: number;
  selected: number;
  rejected: Record<string, number>;
  /** The model this round started from, as evaluated by the selected clients on their validation splits. */
  federatedEvaluation: FederatedEvaluation | null;
  trainLoss: number | null;
  trainAccuracy: number | null;
  bytesUp: number;
  bytesDown: number;
  /** From the round's start to its aggregation; the central evaluation overlaps the next round. */
  durationMs: number;
  /** A differentially private strategy's (ε, δ) spent up to and including this round. */
  privacy?: { epsilon: number; delta: number };
}
