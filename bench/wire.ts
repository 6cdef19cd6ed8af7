/**
 * Benchmark 5, the wire.
 *
 * Bytes per update: an update's bytes on the wire (the header message with its manifest, and every 1 MiB
 * data chunk, each with gRPC's 5-byte prefix and its protobuf framing: see shared/codec/wireSize.ts)
 * against the raw float32 payload (4 bytes per parameter), for float32 and the lossy encodings
 * (float16, int8, top-k). Computed for several models, and measured at the TCP socket for a real upload to
 * a real coordinator through a counting proxy (which adds HTTP/2 frame headers and call headers).
 * Targets: float32 ≤ 1.02×, float16 ≤ 0.52×, int8 ≤ 0.27×.
 *
 * Transfer throughput: the model download over real gRPC on loopback (a real coordinator from
 * startCoordinator in one process, CoordinatorConnection.downloadModel in another, so each side has a core)
 * against a raw TCP socket moving the same number of bytes between the same two processes; the update
 * upload likewise, and over an emulated link with latency (uploadTransfer.ts).
 * Target: ≥ 50% of the raw socket's throughput.
 */
import net from "node:net";
import { NODE_FLAGS } from "../shared/nodeFlags.js";
import type { WeightSpec } from "../shared/model/weights.js";
import { cnnClassesFor, joinCoordinator, serverCpuMs, type ServerInfo } from "./harness/coordinatorProcess.js";
import { ModelLanding, plainHttp2Receive, plainHttp2Session, rawTcpReceive, TRANSFER_WARMUP } from "./harness/transportBaselines.js";
import { MB, fillPattern } from "./harness/fixtures.js";
import { formatNumber } from "./harness/markdown.js";
import { compareTransfer, type TransferSamples } from "./harness/transferComparison.js";
import { runChild, startChild, type ChildIO } from "./harness/proc.js";
import type { BenchContext } from "./harness/registry.js";
import { ratio, type BenchmarkOutput, type Figure, type Table, type TargetInput } from "./harness/results.js";
import { encodingAccuracy } from "./encodingAccuracy.js";
import { uploadResults } from "./uploadTransfer.js";
import { describeSample, measureInterleaved, timeBoth } from "./harness/timing.js";

type EncodingKey = "float32" | "float16" | "int8" | "topk";
const ENCODINGS: EncodingKey[] = ["float32", "float16", "int8", "topk"];
const TOPK_FRACTION = 0.01;
const TARGETS: Partial<Record<EncodingKey, number>> = { float32: 1.02, float16: 0.52, int8: 0.27 };

async function encodingEnum(key: EncodingKey) {
  const { Encoding } = await import("../shared/generated/fedfusion/v1/federation.js");
  return { float32: Encoding.ENCODING_FLOAT32, float16: Encoding.ENCODING_FLOAT16, int8: Encoding.ENCODING_INT8, topk: Encoding.ENCODING_TOPK }[key];
}

// ---------------------------------------------------------------------------------------------
// computed bytes per update (child: needs tfjs to build the models' layouts)

interface ComputedRow {
  model: string;
  params: number;
  encoding: EncodingKey;
  wireBytes: number;
  headerBytes: number;
  chunks: number;
  error?: string;
}

/** Bytes an UploadUpdate stream of this payload takes, as the coordinator counts them (wireSize.ts). */
async function updateWireBytes(specs: readonly WeightSpec[], values: Float32Array[], key: EncodingKey): Promise<{ wireBytes: number; headerBytes: number; chunks: number }> {
  const { encodePayload, chunkPayload } = await import("../shared/codec/payload.js");
  const { chunkMessageBytes, GRPC_MESSAGE_PREFIX } = await import("../shared/codec/wireSize.js");
  const { UpdateChunk, UpdateHeader } = await import("../shared/generated/fedfusion/v1/federation.js");
  const payload = encodePayload(specs.map((s, i) => ({ ...s, values: values[i] })), await encodingEnum(key), { topkFraction: TOPK_FRACTION });
  const header = UpdateHeader.fromPartial({
    sessionId: "00000000-0000-4000-8000-000000000000",
    round: 12,
    baseModelVersion: 11,
    numExamples: 6000,
    metrics: { loss: 0.3, accuracy: 0.9, steps: 188, trainMillis: 12345, skippedFiles: 0 },
    manifest: payload.manifest,
  });
  const headerBytes = GRPC_MESSAGE_PREFIX + UpdateChunk.encode({ part: { $case: "header", value: header } }).finish().length;
  let wireBytes = headerBytes;
  let chunks = 0;
  for (const c of chunkPayload(payload.parts)) {
    wireBytes += chunkMessageBytes(c.byteLength);
    chunks++;
  }
  return { wireBytes, headerBytes, chunks };
}

export async function computedWorker(args: { synthetic: number[] }): Promise<ComputedRow[]> {
  const { initBackend } = await import("../shared/backends/selectBackend.js");
  await initBackend("cpu");
  const { buildModel } = await import("../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../shared/model/modelSpec.js");
  const { weightSpecs } = await import("../shared/model/weights.js");
  const { syntheticSpecs } = await import("./harness/fixtures.js");
  const classes = Array.from({ length: 10 }, (_, i) => `class-${i}`);
  const layouts: { model: string; specs: WeightSpec[] }[] = [];
  for (const name of ["cnn", "fusion-s"]) {
    const model = buildModel(resolveModelSpec(name, [28, 28, 1], classes));
    layouts.push({ model: name, specs: weightSpecs(model) });
    model.dispose();
  }
  for (const p of args.synthetic) layouts.push({ model: `synthetic ${p / 1e6}M`, specs: syntheticSpecs(p) });
  const rows: ComputedRow[] = [];
  for (const { model, specs } of layouts) {
    const values = specs.map((s, i) => fillPattern(new Float32Array(s.shape.reduce((a, b) => a * b, 1)), i + 1));
    const params = values.reduce((n, v) => n + v.length, 0);
    for (const encoding of ENCODINGS) {
      try {
        rows.push({ model, params, encoding, ...(await updateWireBytes(specs, values, encoding)) });
      } catch (e) {
        rows.push({ model, params, encoding, wireBytes: NaN, headerBytes: NaN, chunks: 0, error: String((e as Error).message).split("\n")[0] });
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// a real coordinator (child), plus a raw TCP sender of the same byte count


interface CpuPerMB {
  /** ms of CPU per MB moved, in the sending (coordinator) and receiving (client) process. */
  sender: number;
  receiver: number;
}

interface TransferResult extends TransferSamples {
  mb: number;
  cpu: { grpc: CpuPerMB; tcp: CpuPerMB };
}

export async function transfer(mb: number, repeats: number, log: (l: string) => void, timeoutMs: number): Promise<TransferResult> {
  const classes = cnnClassesFor((mb * MB) / 4);
  const server = startChild<{ stopped: boolean }>("harness/coordinatorProcess.js", "coordinatorServer", { classes, rounds: 1, minClients: 1_000_000 }, { timeoutMs, log, execArgv: [...NODE_FLAGS] });
  try {
    const info = await server.nextMessage<ServerInfo>(120_000);
    const { conn, sessionId } = await joinCoordinator(`127.0.0.1:${info.port}`);
    try {
      // As the client agent downloads: into the buffer of the version it retired (two buffers alternate).
      const { DownloadBuffers } = await import("../client/agent/downloadBuffers.js");
      const buffers = new DownloadBuffers();
      let current: Float32Array[] = [];
      const grpc = async () => {
        const next = (await conn.downloadModel(sessionId, 0, info.specs, false, 600_000, buffers.take)).map((t) => t.values);
        buffers.retire(current, next);
        current = next;
      };
      const tcp = () => rawTcpReceive(info.tcpPort, info.modelBytes);
      const landing = new ModelLanding(info.modelBytes);
      const tcpLanded = () => rawTcpReceive(info.tcpPort, info.modelBytes, landing.next());
      const h2 = plainHttp2Session(info.h2Port);
      const h2Landed = () => plainHttp2Receive(h2, info.modelBytes, landing.next());
      const s = await measureInterleaved({ grpc, tcp, tcpLanded, h2Landed }, { warmup: TRANSFER_WARMUP, repeats }).finally(() => h2.close());
      // One more of each with both processes' CPU time: where the time goes.
      const serverCpu = () => serverCpuMs(server);
      const cpuPerMB = async (f: () => Promise<void>): Promise<CpuPerMB> => {
        const s0 = await serverCpu();
        const t = await timeBoth(f);
        const s1 = await serverCpu();
        return { sender: (s1 - s0) / (info.modelBytes / MB), receiver: t.cpu / (info.modelBytes / MB) };
      };
      const cpu = { grpc: await cpuPerMB(grpc), tcp: await cpuPerMB(tcp) };
      log(`${mb} MB: gRPC ${formatNumber(info.modelBytes / s.grpc.median / 1e3)} MB/s, raw TCP ${formatNumber(info.modelBytes / s.tcp.median / 1e3)} MB/s`);
      await conn.leave(sessionId, "benchmark finished");
      return { mb, bytes: info.modelBytes, grpc: s.grpc, tcp: s.tcp, tcpLanded: s.tcpLanded, h2Landed: s.h2Landed, cpu };
    } finally {
      conn.close();
    }
  } finally {
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// measured at the socket: a counting proxy between a client and a real coordinator

interface MeasuredRow {
  encoding: EncodingKey;
  clientToServer: number;
  accepted: boolean;
  reason: string;
  computed: number;
}

async function measuredUploads(params: number, log: (l: string) => void, timeoutMs: number): Promise<{ params: number; rows: MeasuredRow[] }> {
  const classes = cnnClassesFor(params);
  const server = startChild<{ stopped: boolean }>("harness/coordinatorProcess.js", "coordinatorServer", { classes, rounds: ENCODINGS.length, minClients: 1 }, { timeoutMs, log, execArgv: [...NODE_FLAGS] });
  const counted = { up: 0, down: 0 };
  const proxy = net.createServer((client) => {
    const upstream = net.connect(info.port, "127.0.0.1");
    client.on("data", (d: Buffer) => {
      counted.up += d.byteLength;
      if (!upstream.write(d)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    upstream.on("data", (d: Buffer) => {
      counted.down += d.byteLength;
      if (!client.write(d)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  let info!: ServerInfo;
  try {
    info = await server.nextMessage<ServerInfo>(120_000);
    const proxyPort = await new Promise<number>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve((proxy.address() as net.AddressInfo).port)));
    const { encodePayload } = await import("../shared/codec/payload.js");
    const { UpdateHeader } = await import("../shared/generated/fedfusion/v1/federation.js");
    const { conn, sessionId } = await joinCoordinator(`127.0.0.1:${proxyPort}`);
    const rows: MeasuredRow[] = [];
    try {
      const values = info.specs.map((s, i) => fillPattern(new Float32Array(s.shape.reduce((a, b) => a * b, 1)), 50 + i));
      for (const encoding of ENCODINGS) {
        let task = await conn.getTask(sessionId, 10_000);
        for (let i = 0; i < 5 && task.kind?.$case !== "train"; i++) task = await conn.getTask(sessionId, 10_000);
        if (task.kind?.$case !== "train") throw new Error(`no training task for the ${encoding} upload (got ${task.kind?.$case ?? "nothing"})`);
        const t = task.kind.value;
        const payload = encodePayload(info.specs.map((s, i) => ({ ...s, values: values[i] })), await encodingEnum(encoding), { topkFraction: TOPK_FRACTION });
        const header = UpdateHeader.fromPartial({ sessionId, round: t.round, baseModelVersion: t.modelVersion, numExamples: 100, metrics: { loss: 0.3, accuracy: 0.9, steps: 4, trainMillis: 100, skippedFiles: 0 } });
        const before = counted.up;
        const ack = await conn.uploadUpdate(header, payload, 120_000);
        const computed = (await updateWireBytes(info.specs, values, encoding)).wireBytes;
        rows.push({ encoding, clientToServer: counted.up - before, accepted: ack.accepted, reason: ack.reason, computed });
        log(`upload ${encoding}: ${counted.up - before} bytes at the socket (${ack.accepted ? "accepted" : `rejected: ${ack.reason}`})`);
      }
      await conn.leave(sessionId, "benchmark finished");
    } finally {
      conn.close();
    }
    return { params: info.params, rows };
  } finally {
    proxy.close();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------

export async function run(ctx: BenchContext, io: ChildIO): Promise<BenchmarkOutput> {
  const q = ctx.quick;
  const log = (l: string) => io.log(l);
  const figures: Figure[] = [];
  const targets: TargetInput[] = [];
  const tables: Table[] = [];
  const notes: string[] = [];

  const computed = await runChild<ComputedRow[]>("wire.js", "computedWorker", { synthetic: [1_000_000, 10_000_000] }, { timeoutMs: 120_000, log }).catch((e: Error) => {
    notes.push(`Computed sizes failed: ${e.message.split("\n")[0]}`);
    return [] as ComputedRow[];
  });
  if (computed.length > 0) {
    tables.push({
      title: `Bytes per update on the wire (computed as the coordinator counts them: header message + 1 MiB chunks, each with gRPC's 5-byte prefix and protobuf framing), top-k keeps ${TOPK_FRACTION * 100}%`,
      columns: ["model", "parameters", "encoding", "raw float32 bytes", "wire bytes", "wire / raw float32", "of which header"],
      rows: computed.map((r) => [r.model, r.params, r.encoding, r.params * 4, r.error ? `failed: ${r.error}` : r.wireBytes, r.error ? null : r.wireBytes / (r.params * 4), r.error ? null : r.headerBytes]),
    });
  }

  let measured: { params: number; rows: MeasuredRow[] } | null = null;
  try {
    measured = await measuredUploads(1_000_000, log, 300_000);
  } catch (e) {
    notes.push(`Socket measurement failed: ${(e as Error).message.split("\n")[0]}`);
  }
  for (const encoding of ENCODINGS) {
    const row = measured?.rows.find((r) => r.encoding === encoding);
    const raw = measured ? measured.params * 4 : null;
    const value = row && raw ? row.clientToServer / raw : null;
    const comp = computed.find((r) => r.model === "synthetic 1M" && r.encoding === encoding);
    if (row && raw) {
      figures.push({
        id: `wire.${encoding}`,
        label: `${encoding}${encoding === "topk" ? ` (${TOPK_FRACTION * 100}%)` : ""} update, ${formatNumber(measured!.params / 1e6)}M-param model, bytes at the TCP socket`,
        value: row.clientToServer / MB,
        unit: "MB",
        baseline: { label: "raw float32 payload", value: raw / MB, unit: "MB" },
        ratio: value,
        detail: `computed (wireSize.ts) ${formatNumber(row.computed / raw)}×; upload ${row.accepted ? "accepted" : `rejected: ${row.reason}`}`,
      });
    }
    const limit = TARGETS[encoding];
    if (limit === undefined) continue;
    const encodeFailed = comp?.error;
    targets.push({
      id: `wire.${encoding}`,
      description: `${encoding} update bytes on the wire vs the raw float32 payload (1M-param model, measured at the socket)`,
      measured: row && row.accepted ? value : null,
      unit: "×",
      op: "<=",
      threshold: limit,
      ...(encodeFailed && encoding !== "float32" ? { pending: `the ${encoding} encoding is not available yet (${encodeFailed})` } : {}),
      unavailable: row ? `the upload was rejected: ${row.reason}` : "the socket measurement failed (see notes)",
      limitedBy: row
        ? `payload ${formatNumber(((encoding === "float16" ? 2 : encoding === "int8" ? 1 : 4) * measured!.params) / raw!)}× plus framing; the manifest header is ${formatNumber(comp?.headerBytes ?? NaN)} bytes`
        : undefined,
    });
  }

  const sizes = q ? [10, 100] : [10, 100, 400];
  for (const mb of sizes) {
    try {
      const t = await transfer(mb, mb >= 400 ? 3 : mb >= 100 ? 7 : 11, log, q ? 150_000 : 900_000);
      const c = compareTransfer(t, {
        id: `transfer.${mb}`,
        mb,
        direction: "download",
        label: `model download over gRPC, ${mb} MB`,
        detail: `gRPC ${describeSample(t.grpc)}; TCP ${describeSample(t.tcp)}; CPU ms/MB sender+receiver: gRPC ${formatNumber(t.cpu.grpc.sender)}+${formatNumber(t.cpu.grpc.receiver)}, TCP ${formatNumber(t.cpu.tcp.sender)}+${formatNumber(t.cpu.tcp.receiver)}`,
        baselineLabel: "raw TCP socket, same bytes, only counted",
      });
      const g = c.grpc;
      const r = c.tcp;
      figures.push(...c.figures);
      targets.push({
        id: `transfer.${mb}`,
        description: `model download throughput over gRPC on loopback, ${mb} MB, vs raw TCP`,
        measured: ratio(g, r),
        unit: "%",
        op: ">=",
        threshold: 0.5,
        limitedBy:
          c.placement +
          `CPU per MB moved: gRPC ${formatNumber(t.cpu.grpc.sender)} ms in the coordinator + ${formatNumber(t.cpu.grpc.receiver)} ms in the client, raw TCP ${formatNumber(t.cpu.tcp.sender)} + ${formatNumber(t.cpu.tcp.receiver)} ms: each side's single JS thread runs Node's HTTP/2 (16 KiB DATA frames, which the client copies into 1 MiB messages in reused memory, shared/codec/pooledReceives.ts; the coordinator sends the cached chunks without copying them, shared/codec/framedSends.ts). ` +
          `Tried on 2026-11-27 without a gain: taking each chunk from the frames straight into the assembly buffer (one copy fewer, and half the decoding CPU in isolation; the client's time did not fall, because Node already copies every socket read once and the copy saved was from cache), non-temporal stores for the landing copy (faster only for buffers over ~40 MB here), and 16–64 MiB receive windows. The spread between runs is wide on this shared VM (2026-11-27: 36.6–69.7% for 100 MB)`,
      });
    } catch (e) {
      targets.push({ id: `transfer.${mb}`, description: `model download throughput over gRPC on loopback, ${mb} MB, vs raw TCP`, measured: null, unit: "%", op: ">=", threshold: 0.5, unavailable: (e as Error).message.split("\n")[0] });
    }
  }

  const uploads = await uploadResults(q, sizes, log);
  figures.push(...uploads.figures);
  targets.push(...uploads.targets);

  notes.unshift(
    `Bytes per update: raw = 4 bytes × parameters (MB = 10⁶ bytes). Computed = what the coordinator counts (uploadHandler: header message + Σ chunkMessageBytes over 1 MiB chunks). At the socket = bytes the client wrote to its TCP connection during the UploadUpdate call, counted by a proxy between a CoordinatorConnection and a real coordinator (startCoordinator, \`cnn\` with enough classes for ~1M parameters): gRPC messages plus HTTP/2 frame headers (9 bytes per ≤ 16 KiB DATA frame) and the call's HEADERS frame; TCP/IP headers are not included (not visible to the application). The update values are small pseudo-random numbers; only top-k's size depends on its fraction, not on the values.`,
    `Transfer: a real coordinator (startCoordinator, \`cnn\` with enough classes for the model size, no round started) in one process; the benchmark's process (started with the Node flags \`fedfusion client\` runs with, shared/nodeFlags.ts) joins and calls \`CoordinatorConnection.downloadModel\` (1 MiB chunks, reassembly, CRC-32C check) as the client agent does, assembling each download in the buffer of the version it retired (\`DownloadBuffers\`: two buffers alternate, no fresh pages per download). Baseline: a raw TCP server in the coordinator's process writing the same number of bytes in 1 MiB writes to a client in the bench process that only counts them. Context, not judged: the same raw TCP transfer with the client landing the bytes as a download does (gathered into 1 MiB, copied into one model-sized buffer with the CRC-32C, two buffers alternating), and a plain HTTP/2 server (node:http2, no gRPC) in the coordinator's process sending them as one response to a client with the receive windows ours uses, landing them the same way. Interleaved (gRPC, TCP, landed TCP, landed HTTP/2, then the reverse order, …) after ${TRANSFER_WARMUP} untimed transfers of each (the steady state: a process's first transfers run up to 4× slower while V8 compiles the paths they take); wall time, medians; MB/s = model bytes / time.`,

    ...uploads.notes,
  );
  try {
    const cost = await encodingAccuracy(ctx, log);
    tables.push(cost.table);
    notes.push(cost.note);
  } catch (e) {
    notes.push(`Encoding accuracy cost failed: ${(e as Error).message.split("\n")[0]}`);
  }
  return { figures, targets, tables, notes };
}
