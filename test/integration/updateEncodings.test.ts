/**
 * Lean wire: the coordinator asks for float16 / int8 / top-k updates, clients encode (with error feedback for
 * the lossy ones), the coordinator decodes. Bytes up shrink by the expected ratio; learning goes on. The same
 * for the way down: the global model sent as float16 / int8.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";

let dir: string;
async function simulate(encoding: string, direction: "update" | "download" = "update") {
  const out = path.join(dir, `${direction}-${encoding.replace(":", "-")}`);
  const r = await runCli([
    "simulate", "--clients", "3", "--samples", "200", "--rounds", "3", "--test-samples", "500", "--backend", "wasm", `--${direction}-encoding`, encoding, "--out", out,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(await readFile(path.join(out, "metrics.json"), "utf8"));
}

describe("update encodings over the wire", () => {
  let float32: { rounds: { bytesUp: number; bytesDown: number; accuracy: number }[]; final: { accuracy: number } };
  beforeAll(async () => {
    dir = await tempDir();
    float32 = await simulate("float32");
  });

  for (const [encoding, ratio, maxLoss] of [
    ["float16", 0.52, 0.02],
    ["int8", 0.27, 0.05],
  ] as const) {
    it(`${encoding} sends ≤ ${ratio}× the float32 bytes at nearly the same accuracy`, async () => {
      const m = await simulate(encoding);
      m.rounds.forEach((r: { bytesUp: number }, i: number) => {
        expect(r.bytesUp / float32.rounds[i].bytesUp).toBeLessThanOrEqual(ratio);
        expect(r.bytesUp / float32.rounds[i].bytesUp).toBeGreaterThan(ratio - 0.05);
      });
      expect(m.final.accuracy).toBeGreaterThan(float32.final.accuracy - maxLoss);
    });
  }

  for (const [encoding, ratio, maxLoss] of [
    ["float16", 0.52, 0.02],
    ["int8", 0.27, 0.05],
  ] as const) {
    it(`the global model as ${encoding} moves ≤ ${ratio}× the float32 bytes down at nearly the same accuracy`, async () => {
      const m = await simulate(encoding, "download");
      m.rounds.forEach((r: { bytesUp: number; bytesDown: number }, i: number) => {
        expect(r.bytesDown / float32.rounds[i].bytesDown).toBeLessThanOrEqual(ratio);
        expect(r.bytesDown / float32.rounds[i].bytesDown).toBeGreaterThan(ratio - 0.05);
        expect(r.bytesUp / float32.rounds[i].bytesUp).toBeCloseTo(1, 3); // (headers vary by a byte or two: timings)
      });
      expect(m.final.accuracy).toBeGreaterThan(float32.final.accuracy - maxLoss);
    });
  }

  it("top-k 10% sends a fifth of the bytes (index + value per kept entry) and still learns", async () => {
    const m = await simulate("topk:0.1");
    for (const [i, r] of m.rounds.entries()) expect(r.bytesUp / float32.rounds[i].bytesUp).toBeLessThan(0.21);
    expect(m.final.accuracy).toBeGreaterThan(0.2); // chance is 0.1
  });
});
