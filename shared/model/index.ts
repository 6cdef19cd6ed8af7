export * from "./modelSpec.js";
export * from "./architectures.js";
export * from "./weights.js";
export * from "./fingerprint.js";
export * from "./modelStore.js";
