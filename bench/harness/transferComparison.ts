/**
 * A gRPC transfer (download or upload) placed among the baselines measured beside it in the same run
 * (transportBaselines.ts): raw TCP that only counts the bytes — the targets' baseline — and, as context,
 * raw TCP and plain HTTP/2 landing them as our transfers must. wire.ts and uploadTransfer.ts report both
 * directions this way.
 */
import { formatValue } from "./markdown.js";
import { ratio, type Figure } from "./results.js";
import { describeSample, type Sample } from "./timing.js";

export interface TransferSamples {
  bytes: number;
  grpc: Sample;
  /** Raw TCP, the receiver only counting the bytes. */
  tcp: Sample;
  /** Raw TCP, the receiver landing the bytes in one buffer with the CRC-32C. */
  tcpLanded: Sample;
  /** Plain HTTP/2 (node:http2, no gRPC), landing the bytes the same way. */
  h2Landed: Sample;
}

export interface TransferComparison {
  /** MB/s of gRPC and of counting raw TCP. */
  grpc: number;
  tcp: number;
  /** gRPC's figure, then the two landed baselines', each against counting raw TCP. */
  figures: Figure[];
  /** One sentence (ending in a space) placing gRPC among the baselines, for a target's "what limits it". */
  placement: string;
}

/**
 * `direction` names the transfer ("download": the client receives, with the client's receive windows;
 * "upload": the coordinator receives, with its own); `id` is gRPC's figure's id and prefixes the others';
 * `label` and `detail` are gRPC's figure's; `baselineLabel` is the counting raw TCP's label in the report.
 */
export function compareTransfer(
  s: TransferSamples,
  o: { id: string; mb: number; direction: "download" | "upload"; label: string; detail: string; baselineLabel: string },
): TransferComparison {
  const mbps = (x: Sample) => s.bytes / x.median / 1e3;
  const g = mbps(s.grpc);
  const r = mbps(s.tcp);
  const tl = mbps(s.tcpLanded);
  const hl = mbps(s.h2Landed);
  const pct = (x: number) => formatValue(x, "%");
  const upload = o.direction === "upload";
  const tcp = upload ? "a raw TCP sink" : "raw TCP";
  const baseline = { label: o.baselineLabel, value: r, unit: "MB/s" };
  return {
    grpc: g,
    tcp: r,
    figures: [
      { id: o.id, label: o.label, value: g, unit: "MB/s", baseline, ratio: ratio(g, r), detail: o.detail },
      {
        id: `${o.id}.tcpLanded`,
        label: `raw TCP ${upload ? "into a sink " : ""}landing the bytes, ${o.mb} MB (copied into one buffer with the CRC-32C, as ${upload ? "an upload" : "a download"} is)`,
        value: tl,
        unit: "MB/s",
        baseline,
        ratio: ratio(tl, r),
        detail: describeSample(s.tcpLanded),
      },
      {
        id: `${o.id}.h2Landed`,
        label: `plain HTTP/2 (node:http2, no gRPC) ${upload ? "into a server " : ""}landing the bytes, ${o.mb} MB`,
        value: hl,
        unit: "MB/s",
        baseline,
        ratio: ratio(hl, r),
        detail: `${describeSample(s.h2Landed)}; gRPC reaches ${pct(g / hl)} of it`,
      },
    ],
    placement:
      `in this run, against ${tcp} that only counts the bytes: ${tcp} that lands them in one buffer with the CRC-32C, as any ${o.direction} must, ${pct(tl / r)}; ` +
      `plain HTTP/2 (node:http2, no gRPC, the ${upload ? "coordinator" : "client"}'s receive windows) landing them ${pct(hl / r)}; gRPC ${pct(g / r)}, i.e. ${pct(g / hl)} of plain HTTP/2. `,
  };
}
