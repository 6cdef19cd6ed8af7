/**
 * A researcher's loop: two real `fedfusion simulate` runs leave their charts beside metrics.json, and
 * `fedfusion plot` puts them side by side; bad input is a one-line error.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";

const legend = (svg: string) => [...svg.matchAll(/<text x="[^"]*" y="[^"]*">([^<]*)<\/text>/g)].map((m) => m[1]);
const lines = (svg: string) => [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1].split(" ").length);

describe("fedfusion plot", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
    for (const [name, partition] of [["iid", "iid"], ["skewed", "dirichlet:0.5"]]) {
      const r = await runCli(["simulate", "--clients", "2", "--samples", "100", "--rounds", "3", "--test-samples", "200", "--partition", partition, "--backend", "wasm", "--out", path.join(dir, name)]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it("finds each run's own charts beside its metrics.json", async () => {
    const accuracy = await readFile(path.join(dir, "iid/accuracy.svg"), "utf8");
    expect(legend(accuracy)).toEqual(["test set (coordinator)", "held-out data (sites)", "local training (sites)", "worst site (held-out)", "best site (held-out)"]);
    expect(lines(accuracy)).toEqual([3, 4, 3, 4, 4]);
    expect(legend(await readFile(path.join(dir, "iid/loss.svg"), "utf8"))).toContain("test set (coordinator)");
    const sites = await readFile(path.join(dir, "iid/sites.svg"), "utf8");
    expect(legend(sites)).toEqual(["client-1", "client-2"]);
    expect(lines(sites)).toEqual([4, 4]);
  });

  it("charts runs side by side, one curve per run, under the names given", async () => {
    const out = path.join(dir, "cmp.svg");
    const r = await runCli(["plot", path.join(dir, "iid"), path.join(dir, "skewed/metrics.json"), "--label", "IID", "--label", "Dirichlet 0.5", "--metric", "loss", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`wrote ${out}\n`);
    const svg = await readFile(out, "utf8");
    expect(legend(svg)).toEqual(["IID", "Dirichlet 0.5"]);
    expect(lines(svg)).toEqual([3, 3]);
    expect(svg).toContain(">Test loss per round</text>");
  });

  it("names the problem with its input in one line", async () => {
    await writeFile(path.join(dir, "broken.json"), "{ not json");
    await writeFile(path.join(dir, "other.json"), JSON.stringify({ hello: 1 }));
    const cases: [string[], RegExp][] = [
      [[], /^fedfusion: plot: give at least one run/],
      [[path.join(dir, "nowhere")], /^fedfusion: plot: .*nowhere does not exist$/],
      [[dir], /^fedfusion: plot: no metrics\.json in /],
      [[path.join(dir, "broken.json")], /^fedfusion: plot: .*broken\.json is not valid JSON$/],
      [[path.join(dir, "other.json")], /^fedfusion: plot: .*other\.json is not a fedfusion metrics\.json \(no list of rounds\)$/],
      [[path.join(dir, "iid"), "--label", "a", "--label", "b"], /^fedfusion: plot: 2 --label for 1 runs$/],
      [[path.join(dir, "iid"), "--metric", "f1"], /^fedfusion: plot: --metric must be one of accuracy, loss, got 'f1'$/],
      [[path.join(dir, "iid"), "--out", path.join(dir, "iid/metrics.json/x.svg")], /^fedfusion: plot: cannot write .*x\.svg: ENOTDIR/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(["plot", ...args]);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toEqual([expect.stringMatching(message)]);
    }
  });
});
