/**
 * The benchmarks' coordinator process: a real coordinator (startCoordinator, `cnn` sized by its number of
 * classes, FedAvg, no test set) with the transport baselines (transportBaselines.ts: raw TCP, plain HTTP/2)
 * beside it in the same process, which the wire benchmarks compare gRPC transfers with. Run with
 * startChild("harness/coordinatorProcess.js", "coordinatorServer", …); a site joins it with joinCoordinator.
 */
import type { WeightSpec } from "../../shared/model/weights.js";
import type { ChildHandle, ChildIO } from "./proc.js";
import { cliRoundSettings } from "./settings.js";
import { cpuNow } from "./timing.js";
import { startBaselineServers, type BaselinePorts } from "./transportBaselines.js";

/** Parameters of `cnn` on 28×28×1 input with `classes` classes: conv 3×3×1×32 + bias, dense 5408×classes + bias. */
export function cnnParams(classes: number): number {
  return 3 * 3 * 1 * 32 + 32 + 26 * 26 * 32 / 4 * classes + classes;
}

/** The number of classes that makes `cnn` at least `params` parameters. */
export function cnnClassesFor(params: number): number {
  return Math.max(2, Math.ceil((params - 320) / 5409));
}

export interface ServerInfo extends BaselinePorts {
  port: number;
  specs: WeightSpec[];
  params: number;
  modelBytes: number;
}

export async function coordinatorServer(
  args: { classes: number; rounds: number; minClients: number; receiveWindowBytes?: number },
  io: ChildIO,
): Promise<{ stopped: boolean }> {
  const { initBackend } = await import("../../shared/backends/selectBackend.js");
  await initBackend("cpu"); // the coordinator only builds the model for its layout; no training here
  const { buildModel } = await import("../../shared/model/architectures.js");
  const { resolveModelSpec } = await import("../../shared/model/modelSpec.js");
  const { weightSpecs } = await import("../../shared/model/weights.js");
  const { startCoordinator } = await import("../../coordinator/coordinator.js");
  const spec = resolveModelSpec("cnn", [28, 28, 1], Array.from({ length: args.classes }, (_, i) => `c${i}`));
  const probe = buildModel(spec);
  const specs = weightSpecs(probe);
  probe.dispose();
  const params = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  // The bench's client sends no heartbeats (it only transfers): sessions do not time out here.
  const { settings, strategy } = await cliRoundSettings(["--rounds", String(args.rounds), "--fraction", "1", "--round-timeout", "300", "--session-timeout", "0", "--seed", "1"], args.minClients);
  const coordinator = await startCoordinator({
    host: "127.0.0.1", port: 0, spec, strategy, settings, config: { command: "bench" }, log: () => undefined, receiveWindowBytes: args.receiveWindowBytes,
  });
  const modelBytes = params * 4;
  const baselines = await startBaselineServers(modelBytes);
  io.send({ port: coordinator.port, ...baselines.ports, specs, params, modelBytes } satisfies ServerInfo);
  // "cpu": this process's CPU time so far (ms); "stop": shut down.
  for (let m = await io.next(); m !== "stop"; m = await io.next()) if (m === "cpu") io.send(cpuNow());
  baselines.close();
  await coordinator.stop("benchmark finished");
  return { stopped: true };
}

/** The coordinatorServer child's CPU time so far, ms (its "cpu" message). */
export async function serverCpuMs(server: ChildHandle<unknown>): Promise<number> {
  server.send("cpu");
  return server.nextMessage<number>(30_000);
}

export async function joinCoordinator(address: string) {
  const { CoordinatorConnection } = await import("../../client/agent/coordinatorConnection.js");
  const { Encoding, JoinRequest } = await import("../../shared/generated/fedfusion/v1/federation.js");
  const conn = new CoordinatorConnection({ address });
  const joined = await conn.join(
    JoinRequest.fromPartial({
      siteName: `bench-${process.pid}`,
      numExamples: 100,
      backend: "none",
      // Empty architecture and shape: "whatever the federation runs".
      model: { architecture: "", fingerprint: "", inputShape: [], classNames: [], parameterCount: 0, configJson: "" },
      clientVersion: "fedfusion-bench",
      supportedEncodings: [Encoding.ENCODING_FLOAT32, Encoding.ENCODING_FLOAT16, Encoding.ENCODING_INT8, Encoding.ENCODING_TOPK],
    }),
  );
  return { conn, sessionId: joined.sessionId };
}

