/**
 * The coordinator's event plane: every round's metrics (and the start and end of the federation) are
 * published as JSON on NATS, for dashboards, experiment trackers and alerting, while the run goes on.
 * Subjects: fedfusion.<federation id>.started | .round | .finished — subscribe to `fedfusion.*.round`.
 * A NATS outage never stops training: the client reconnects and buffers meanwhile.
 */
import { connect, JSONCodec, type NatsConnection } from "nats";
import { UserError } from "../../shared/errors.js";
import type { Logger } from "../../shared/logging.js";

export interface EventPublisher {
  publish(kind: "started" | "round" | "stopped" | "finished", payload: Record<string, unknown>): void;
  close(): Promise<void>;
}

export async function connectNatsEvents(url: string, federationId: string, log: Logger): Promise<EventPublisher> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, name: `fedfusion-coordinator-${federationId}`, maxReconnectAttempts: -1, timeout: 5_000 });
  } catch (e) {
    throw new UserError(`cannot reach NATS at ${url} for --events: ${(e as Error).message.split("\n")[0]}`);
  }
  log(`publishing events to ${url} on fedfusion.${federationId}.*`);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log(`events: NATS ${s.type} (${String(s.data)})`);
    }
  })();
  const codec = JSONCodec<Record<string, unknown>>();
  return {
    publish(kind, payload) {
      try {
        nc.publish(`fedfusion.${federationId}.${kind}`, codec.encode({ federationId, kind, time: new Date().toISOString(), ...payload }));
      } catch (e) {
        log(`events: could not publish ${kind}: ${(e as Error).message}`);
      }
    },
    async close() {
      await nc.drain().catch(() => undefined);
    },
  };
}
