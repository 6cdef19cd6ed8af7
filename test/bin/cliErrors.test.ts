/** Bad input gets one clear line naming the problem and a non-zero exit, never a stack trace. */
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";

const cases: [string[], RegExp][] = [
  [["frobnicate"], /^fedfusion: unknown command 'frobnicate': expected one of simulate, coordinator, client/],
  [["simulate", "--clientz", "3"], /^fedfusion: simulate: Unknown option '--clientz'/],
  [["simulate", "--clients", "zero"], /^fedfusion: simulate: --clients must be a number, got 'zero'$/],
  [["simulate", "--clients", "0"], /^fedfusion: simulate: --clients must be at least 1, got 0$/],
  [["simulate", "--model", "resnet"], /^fedfusion: simulate: --model must be one of cnn, large, fusion/],
  [["simulate", "--partition", "banana"], /^fedfusion: .*banana/],
  [["simulate", "--strategy", "fedavg", "--strategy-opt", "eta=1"], /^fedfusion: .*eta/],
  [["simulate", "--dataset", "/no/such/folder"], /^fedfusion: unknown dataset '\/no\/such\/folder'/],
  [["client", "--coordinator", "localhost:1"], /^fedfusion: client: --data is required/],
  [["client", "--coordinator", "localhost:1", "--data", "/no/such/dir"], /^fedfusion: client: data path \/no\/such\/dir does not exist$/],
  [["evaluate", "--model", "/no/such/model", "--data", "mnist"], /^fedfusion: no model at \/no\/such\/model: model.json is missing$/],
  [["simulate", "--update-encoding", "topk:2"], /^fedfusion: --update-encoding topk needs a fraction in \(0, 1\], e.g. topk:0.01, got 'topk:2'$/],
  [["simulate", "--update-encoding", "bf16"], /^fedfusion: unknown update encoding 'bf16': expected float32, float16, int8 or topk:<fraction>$/],
  [["coordinator", "--download-encoding", "topk:0.1"], /^fedfusion: coordinator: --download-encoding must be one of float32, float16, int8, got 'topk:0.1'$/],
  [["simulate", "--model", "fusion", "--token-dim", "30", "--heads", "4"], /^fedfusion: token dimension 30 must be divisible by heads 4$/],
  [["simulate", "--model", "cnn", "--token-dim", "32"], /^fedfusion: fusion options apply only to fusion models, not 'cnn'$/],
  [["coordinator", "--port", "70000"], /^fedfusion: coordinator: --port must be at most 65535, got 70000$/],
  [["coordinator", "--receive-window", "32"], /^fedfusion: coordinator: --receive-window must be at least 64, got 32$/],
  [["coordinator", "--classes", "a,b", "--test-samples", "100"], /^fedfusion: coordinator: --test-samples needs --test-data$/],
  [["train", "--lr-schedule", "cosine:1"], /^fedfusion: --lr-schedule cosine:<min> needs 0 ≤ min ≤ --lr \(0.001\), got '1'$/],
  [["simulate", "--lr-schedule", "step"], /^fedfusion: unknown --lr-schedule 'step': expected constant, cosine or cosine:<min>$/],
  [["predict", "--model", "/x"], /^fedfusion: predict: give at least one image file$/],
  // No GPU in CI (and none here): which of the runtime, cuBLAS or a device was missing, named.
  [["simulate", "--backend", "cuda"], /^fedfusion: backend 'cuda' is not available here \(cuda: (no CUDA runtime found|found libcudart\.so\.\d+ but not libcublas|no CUDA device)/],
];

describe("command-line errors", () => {
  for (const [args, expected] of cases) {
    it(`fedfusion ${args.join(" ")}`, async () => {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
    });
  }

  it("every command has --help", async () => {
    for (const c of ["simulate", "coordinator", "client", "evaluate", "predict", "partition", "models"]) {
      const r = await runCli([c, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^fedfusion ${c}: `));
      expect(r.stdout).toContain("--help");
    }
  });
});
