/**
 * Mutual TLS: a coordinator that requires client certificates from its CA trains with a site holding one,
 * and refuses a site without a certificate, with one from another CA, or naming itself other than its
 * certificate does.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll, partitionedDir, ROOT, runCli, startCli, type CliProcess } from "../helpers/cli.js";

describe("mutual TLS", () => {
  let dir: string;
  const procs: CliProcess[] = [];
  beforeAll(async () => {
    dir = await partitionedDir(1, 80, 100);
    const script = path.join(ROOT, "deploy/tls/make-certs.sh");
    execFileSync("bash", [script, path.join(dir, "tls"), "localhost", "site-a"]);
    execFileSync("bash", [script, path.join(dir, "rogue"), "localhost", "site-x"]);
  });
  afterAll(() => killAll(procs));

  const tls = (f: string) => path.join(dir, "tls", f);
  /** A coordinator requiring client certificates from the CA; resolves with it and its port once it listens. */
  const coordinatorWith = async (flags: string[]) => {
    const coordinator = startCli([
      "coordinator", "--port", "0", "--host", "127.0.0.1", "--test-data", path.join(dir, "parts/test"), "--backend", "wasm",
      "--tls-cert", tls("coordinator.crt"), "--tls-key", tls("coordinator.key"), "--tls-client-ca", tls("ca.crt"), ...flags,
    ]);
    procs.push(coordinator);
    const port = (await coordinator.waitFor(/listening on 127\.0\.0\.1:(\d+) \(TLS, client certificates required\)/))[1];
    return { coordinator, port };
  };

  it("trains with a certified site and refuses the others", async () => {
    const { coordinator, port } = await coordinatorWith(["--min-clients", "1", "--rounds", "1"]);
    const client = (name: string, extra: string[]) =>
      runCli(["client", "--coordinator", `localhost:${port}`, "--data", path.join(dir, "parts/client-1"), "--name", name, "--backend", "wasm", "--connect-timeout", "2", ...extra]);

    const noCert = await client("anonymous", ["--tls-ca", tls("ca.crt")]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/^fedfusion: cannot reach coordinator at localhost:\d+: UNAVAILABLE: .+\n$/);
    const rogue = await client("rogue", ["--tls-ca", tls("ca.crt"), "--tls-cert", path.join(dir, "rogue/site-x.crt"), "--tls-key", path.join(dir, "rogue/site-x.key")]);
    expect(rogue.code).toBe(1);
    const plain = await client("plaintext", []);
    expect(plain.code).toBe(1);

    const impostor = await client("site-b", ["--tls-ca", tls("ca.crt"), "--tls-cert", tls("site-a.crt"), "--tls-key", tls("site-a.key")]);
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toMatch(/^fedfusion: coordinator at localhost:\d+ refused this client: site name 'site-b' is not the name in its certificate \('site-a'\)\n$/);

    const good = await client("site-a", ["--tls-ca", tls("ca.crt"), "--tls-cert", tls("site-a.crt"), "--tls-key", tls("site-a.key")]);
    expect(good.code, good.stderr).toBe(0);
    expect((await coordinator.exited).code).toBe(0);
    expect(coordinator.output()).toMatch(/client site-a joined/);
    expect(coordinator.output()).not.toMatch(/client (anonymous|rogue|plaintext|site-b) joined/);
  });
});
