/** A real nats-server (Debian's package, installed by .ci/run) on a free loopback port, for one test file. */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

export async function startNatsServer(): Promise<{ url: string; stop: () => void; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    child.once("error", (e) => reject(new Error(`cannot start nats-server (apt-get install nats-server): ${e.message}`)));
    const started = Date.now();
    const poll = () => {
      if (/Server is ready/.test(log)) return resolve();
      if (child.exitCode !== null) return reject(new Error(`nats-server exited: ${log}`));
      if (Date.now() - started > 10_000) return reject(new Error(`nats-server did not start: ${log}`));
      setTimeout(poll, 50);
    };
    poll();
  });
  return { url: `nats://127.0.0.1:${port}`, stop: () => child.kill(), process: child };
}
