/**
 * `fedfusion coordinator --test-samples N` evaluates every round on a fixed random sample of the central
 * test set (drawn once with --seed), so a large test set does not lengthen every round.
 */
import { afterEach, describe, expect, it } from "vitest";
import { killAll, startCli, type CliProcess } from "../helpers/cli.js";

describe("fedfusion coordinator --test-samples", () => {
  const procs: CliProcess[] = [];
  afterEach(() => killAll(procs.splice(0)));

  it("evaluates each round on that many of the test images", async () => {
    const c = startCli(["coordinator", "--port", "0", "--host", "127.0.0.1", "--test-data", "fashion-mnist", "--test-samples", "300", "--backend", "wasm"]);
    procs.push(c);
    await c.waitFor(/listening on 127\.0\.0\.1:\d+/);
    expect(c.output()).toMatch(/evaluating each round on 300 of the 10000 test images/);
  });
});
