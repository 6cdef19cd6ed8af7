/**
 * fedfusion's public API for library users: strategies (pure math over Float32Array layers) and their
 * privacy accounting, charts of runs, the model family, the wire codec, and the building blocks to run a
 * coordinator or a client from code.
 */
export { createStrategy, STRATEGY_NAMES } from "./coordinator/strategies/createStrategy.js";
export { parseStrategyOptions } from "./coordinator/strategies/options.js";
export type { FitResult, RoundAggregation, Strategy } from "./coordinator/strategies/strategy.js";
export { validateUpdate } from "./coordinator/validation/validateUpdate.js";
export { gaussianEpsilon, type PrivacySpent } from "./shared/privacy/gaussianAccountant.js";
export { lineChartSvg, type Series, type ChartOptions } from "./coordinator/charts/lineChart.js";
export { compareRunsSvg, runChartSvg, type ChartMetric } from "./coordinator/charts/runCharts.js";
export type { MetricsDocument } from "./coordinator/metricsFile.js";
export { startCoordinator, type CoordinatorOptions, type RunningCoordinator } from "./coordinator/coordinator.js";
export { RoundStateMachine } from "./coordinator/rounds/roundStateMachine.js";
export type { RoundRecord, RoundSettings, TrainingSettings } from "./coordinator/rounds/types.js";
export { runClientAgent, type ClientAgentOptions } from "./client/agent/clientAgent.js";
export { datasetFileSite, imageFolderSite, type SiteData } from "./client/agent/siteData.js";
export { SiteTrainer } from "./client/training/siteTrainer.js";
export { trainLocally, type LocalTrainingConfig } from "./client/training/localTrainer.js";
export { loadBuiltinDataset } from "./client/data/builtinDatasets.js";
export { loadImageFolder } from "./client/data/imageFolder.js";
export { parsePartitionSpec, partitionIndices } from "./client/data/partition.js";
export { initBackend, type BackendChoice, type BackendSelection } from "./shared/backends/selectBackend.js";
export type { ImageDataset } from "./shared/data/imageDataset.js";
export { buildModel } from "./shared/model/architectures.js";
export { resolveModelSpec, ARCHITECTURES, FUSION_PRESETS, type ModelSpec, type FusionConfig } from "./shared/model/modelSpec.js";
export { modelFingerprint } from "./shared/model/fingerprint.js";
export { loadModel, saveModel } from "./shared/model/modelStore.js";
export { evaluateModel } from "./shared/model/evaluate.js";
export { encodePayload, chunkPayload, PayloadAssembler } from "./shared/codec/payload.js";
