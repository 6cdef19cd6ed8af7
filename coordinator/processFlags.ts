/**
 * The Node (V8) flags the coordinator process runs with: `fedfusion coordinator` relaunches itself with them
 * (bin/relaunch.ts) and the benchmarks start their coordinators with them.
 *
 * Why: every model transfer makes grpc-js allocate a fresh Buffer per 1 MiB message (behind its 5-byte
 * prefix when sending, concatenated from 16 KiB HTTP/2 frames when receiving). V8 counts those backing
 * stores against the old generation's allocation limit, which for a coordinator's ~20 MB heap is only
 * ~24 MB above its live size, so it started a full mark-compact every ~35 MB moved (71 in one 300-client
 * round moving 2.4 GB), about a third of the process's CPU (perf: V8's concurrent marking threads). Starting with
 * a 256 MB old-generation limit removes most of them: coordinator CPU per round fell ~35 % (300 clients,
 * 10 % selected, 12 rounds: ~1,000 → ~610 ms), with peak RSS within the run-to-run noise (270–315 MB).
 * V8 only reads the flag when the process starts (v8.setFlagsFromString has no effect), and Node refuses
 * it in NODE_OPTIONS, hence the relaunch.
 */
export const COORDINATOR_NODE_FLAGS: readonly string[] = ["--initial-old-space-size=256"];
