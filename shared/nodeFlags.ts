/**
 * The Node (V8) flags the coordinator and client processes run with: `fedfusion coordinator` and `fedfusion
 * client` relaunch themselves with them (bin/relaunch.ts), and the benchmarks start their coordinators and the
 * processes that play clients with them.
 *
 * Why: model transfers bring many external backing stores (Node's HTTP/2 allocates a buffer per socket read,
 * grpc-js one per message where it is not pooled). V8 counts them against the old generation's allocation
 * limit, which for a ~20 MB heap is only ~24 MB above its live size, so a process moving models starts a full
 * mark-compact every few tens of MB moved (a coordinator: 71 in one 300-client round moving 2.4 GB, a third of
 * its CPU). Starting with a 256 MB old-generation limit removes most of them, with peak RSS unchanged within
 * the noise:
 * - coordinator CPU per round ~35 % less (300 clients, 10 % selected, 12 rounds: ~1,000 → ~610 ms; 270–315 MB);
 * - a client downloading 100 MB models: 104–109 → 67–68 ms per download, 1.22–1.24 → 0.65–0.67 ms of CPU per
 *   MB (2026-11-27; peak RSS 319 → 316 MB).
 * `simulate` does not need them (its models are small: 10 rounds of `cnn` took the same time with and without).
 * V8 only reads the flag when the process starts (v8.setFlagsFromString has no effect), and Node refuses it in
 * NODE_OPTIONS, hence the relaunch.
 */
export const NODE_FLAGS: readonly string[] = ["--initial-old-space-size=256"];
