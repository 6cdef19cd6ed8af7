/**
 * What the figures were measured on: CPU, cores, memory, Node, and the TensorFlow.js backends this machine
 * has (each probed in its own process, since a process picks its backend once).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { runChild, type ChildIO } from "./proc.js";
import { loadNativeAddon } from "../../shared/backends/native/nativeAddon.js";

export interface BackendProbe {
  /** What was asked for: auto, gpu, node, cuda, native, wasm, cpu. */
  choice: string;
  available: boolean;
  /** What it resolved to (for auto, the selected candidate). */
  name?: string;
  tfBackend?: string;
  detail?: string;
  /** Why it is not available. */
  reason?: string;
  /** For auto: why better candidates were skipped. */
  skipped?: string[];
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  arch: string;
  kernel: string;
  cpuFlags: string[];
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  /** What `--backend auto` selects here. */
  selected: BackendProbe;
  backends: BackendProbe[];
  openblas: { available: boolean; detail?: string; reason?: string };
}

const INTERESTING_FLAGS = ["avx", "avx2", "fma", "avx512f", "sha_ni", "aes", "f16c"];

export function staticMachineInfo(): Omit<MachineInfo, "selected" | "backends" | "openblas"> {
  let flags: string[] = [];
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => /^flags\s*:/.test(l)) ?? "";
    const set = new Set(line.slice(line.indexOf(":") + 1).trim().split(/\s+/));
    flags = INTERESTING_FLAGS.filter((f) => set.has(f));
  } catch {
    flags = [];
  }
  return {
    cpuModel: os.cpus()[0]?.model?.trim() || "unknown",
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    kernel: os.release(),
    cpuFlags: flags,
    loadAverageStart: os.loadavg(),
  };
}

/** Child function: initialise one backend choice and describe the result. */
export async function probeBackend(args: { choice: string }): Promise<BackendProbe> {
  const { initBackend, parseBackendChoice } = await import("../../shared/backends/selectBackend.js");
  try {
    const sel = await initBackend(parseBackendChoice(args.choice));
    return { choice: args.choice, available: true, name: sel.name, tfBackend: sel.tfBackend, detail: sel.detail, skipped: sel.skipped };
  } catch (e) {
    return { choice: args.choice, available: false, reason: String((e as Error)?.message ?? e).split("\n")[0] };
  }
}

/** Child function: whether the OpenBLAS addon loads, and its configuration. */
export async function probeOpenBlas(_args: unknown, _io: ChildIO): Promise<MachineInfo["openblas"]> {
  const r = loadNativeAddon();
  return r.ok ? { available: true, detail: r.blas } : { available: false, reason: r.reason };
}

/** The full machine description; backends are probed two processes at a time. */
export async function collectMachineInfo(log: (line: string) => void): Promise<MachineInfo> {
  const base = staticMachineInfo();
  const { BACKEND_CHOICES } = await import("../../shared/backends/selectBackend.js");
  const choices = [...BACKEND_CHOICES] as string[];
  const probes: BackendProbe[] = [];
  const queue = [...choices];
  const worker = async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      const choice = c;
      probes.push(
        await runChild<BackendProbe>("harness/machine.js", "probeBackend", { choice }, { timeoutMs: 60_000, log }).catch((e: Error) => ({
          choice,
          available: false,
          reason: `probe failed: ${e.message.split("\n")[0]}`,
        })),
      );
    }
  };
  await Promise.all([worker(), worker()]);
  const openblas = await runChild<MachineInfo["openblas"]>("harness/machine.js", "probeOpenBlas", null, { timeoutMs: 60_000, log }).catch(
    (e: Error) => ({ available: false, reason: `probe failed: ${e.message.split("\n")[0]}` }),
  );
  const byChoice = new Map(probes.map((p) => [p.choice, p]));
  const selected = byChoice.get("auto") ?? { choice: "auto", available: false, reason: "not probed" };
  const backends = choices.filter((c) => c !== "auto").map((c) => byChoice.get(c) ?? { choice: c, available: false, reason: "not probed" });
  return { ...base, selected, backends, openblas };
}
