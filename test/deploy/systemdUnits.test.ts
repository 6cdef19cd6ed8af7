/**
 * The systemd units in deploy/ stay valid for systemd and for the command they start: systemd-analyze
 * accepts each, and every flag their ExecStart passes is one the fedfusion command knows.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, runCli } from "../helpers/cli.js";

const DIR = path.join(ROOT, "deploy/systemd");
const units = readdirSync(DIR).filter((f) => f.endsWith(".service"));

/** ExecStart with its continuation lines joined. */
function execStart(unit: string): string {
  const text = readFileSync(path.join(DIR, unit), "utf8").replace(/\\\n\s*/g, " ");
  const line = text.split("\n").find((l) => l.startsWith("ExecStart="));
  if (!line) throw new Error(`${unit} has no ExecStart`);
  return line.slice("ExecStart=".length);
}

describe("systemd units", () => {
  it("cover the coordinator and the client", () => {
    expect(units.sort()).toEqual(["fedfusion-client.service", "fedfusion-coordinator.service"]);
  });

  for (const unit of units) {
    it(`${unit}: systemd-analyze verify accepts it without a remark`, () => {
      // It exits 0 on a setting it cannot parse ("…, ignoring"): what it prints is the finding.
      const r = spawnSync("systemd-analyze", ["verify", path.join(DIR, unit)], { encoding: "utf8" });
      if (r.error) throw new Error(`systemd-analyze: ${r.error.message} (.ci/run installs systemd)`);
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });

    it(`${unit}: starts a fedfusion command with flags it knows`, async () => {
      const words = execStart(unit).split(/\s+/);
      expect(words.slice(0, 2)).toEqual(["/usr/bin/env", "fedfusion"]);
      const command = words[2];
      const help = await runCli([command, "--help"]);
      expect(help.code).toBe(0);
      const flags = words.filter((w) => w.startsWith("--"));
      expect(flags.length).toBeGreaterThan(2);
      for (const flag of flags) expect(help.stdout, `${unit}: ${flag}`).toMatch(new RegExp(`^  ${flag} `, "m"));
    });
  }
});
