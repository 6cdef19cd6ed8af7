import type { RoundRecord } from "./rounds/types.js";

/** The coordinator's one line per round: central accuracy and loss, who took part, bytes moved, time (and privacy spent). */
export function formatRound(r: RoundRecord, total: number): string {
  const pct = (x: number | null) => (x === null ? "-" : (100 * x).toFixed(2) + "%");
  const num = (x: number | null) => (x === null ? "-" : x.toFixed(4));
  const rejected = Object.entries(r.rejected).map(([k, v]) => `${k}=${v}`).join(",");
  return (
    `round ${r.round}/${total}  accuracy ${pct(r.accuracy)}  loss ${num(r.loss)}  ` +
    `clients ${r.clients}/${r.selected}${rejected ? ` rejected[${rejected}]` : ""}  train-loss ${num(r.trainLoss)}  ` +
    `up ${mib(r.bytesUp)}  down ${mib(r.bytesDown)}  ${(r.durationMs / 1000).toFixed(1)}s` +
    (r.privacy ? `  privacy ε=${r.privacy.epsilon.toPrecision(3)} δ=${r.privacy.delta}` : "")
  );
}

function mib(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(2) + " MiB";
}
