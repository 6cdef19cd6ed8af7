/**
 * The coordinator's HTTP/2 receive windows, which bound how much of an upload can be in flight — and how much
 * an upload waiting its turn can leave in the coordinator's memory.
 *
 * grpc-js (through 1.14) leaves a server's receive window at Node's default of 64 KiB. The client side has
 * `grpc-node.flow_control_window` (our clients use it for downloads), but the server reads no such option
 * (grpc/grpc-node pull request #3058, open). An upload therefore moves at most 64 KiB per round trip:
 * ~1.3 MB/s on a 50 ms link, whatever the link's speed. Even on loopback, the sender stalls and both
 * processes wake up for every 32 KiB. Measured here (a 4 MB update, one client, loopback): coordinator
 * CPU per upload 15–19 ms → 7–10 ms, upload time 32–44 ms → 14–22 ms.
 *
 * But an upload that waits at the UploadGate (paused, for a slot) keeps whatever its client could send
 * before the window closed. So every stream starts with HTTP/2's 64 KiB window, and a session's streams
 * get the full window (default 4 MiB) only while one of its uploads holds a slot (`UploadWindows.widen`):
 * the session's SETTINGS_INITIAL_WINDOW_SIZE is raised — HTTP/2 applies the change to its open streams — and
 * lowered again when its last such upload ends. A waiting upload holds ≤ 64 KiB instead of a full window;
 * an admitted one pays one round trip (the new SETTINGS reaching the client) at its start. Each client has a
 * connection of its own, so a session is a client; the connection window (not a SETTINGS value) stays at the
 * full size from the start.
 *
 * grpc-js has no public hook for any of this, so it reaches three of its internals: the options it passes to
 * `http2.createServer` (where the per-stream window is a SETTINGS value), the method that creates each HTTP/2
 * server (to raise each session's connection window), and the chain from a call to its HTTP/2 session. Where
 * the first two are missing (another grpc-js), nothing changes and the caller is told; where a call's session
 * cannot be found, that upload keeps 64 KiB. test/coordinator/transport/receiveWindow.test.ts checks the
 * windows on the wire.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Http2Server, ServerHttp2Session } from "node:http2";

/**
 * 4 MiB: a 4 MB update in one round trip (after the one that widens its window); ~80 MB/s per upload on a
 * 50 ms link. Only uploads holding a slot (two by default) get it, so it costs the coordinator ~8 MiB.
 */
export const DEFAULT_RECEIVE_WINDOW = 4 << 20;
/** HTTP/2's bounds on a window (RFC 9113 §6.9.2). */
export const MIN_RECEIVE_WINDOW = 65_535;
export const MAX_RECEIVE_WINDOW = 2 ** 31 - 1;
/** A stream's window until one of its session's uploads holds a slot: HTTP/2's default. */
export const WAITING_WINDOW = MIN_RECEIVE_WINDOW;

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  createHttp2Server?: (credentials: grpc.ServerCredentials) => Http2Server;
}

export interface UploadWindows {
  /** Gives the session `call` arrived on the full window; the returned function (once is enough) takes it back. */
  widen(call: object): () => void;
}

/** The HTTP/2 session a grpc-js server call arrived on: its interceptor chain ends at the call holding the stream. */
function sessionOf(call: object): ServerHttp2Session | undefined {
  let c = (call as { call?: unknown }).call;
  for (let depth = 0; c && depth < 16; depth++) {
    const session = (c as { stream?: { session?: ServerHttp2Session } }).stream?.session;
    if (session) return session;
    c = (c as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** Asks the client to use `bytes` as each stream's window; false when the session cannot take it now. */
function advertise(session: ServerHttp2Session, bytes: number): boolean {
  if (session.destroyed || session.closed) return false;
  try {
    session.settings({ initialWindowSize: bytes });
    return true;
  } catch {
    return false; // e.g. too many SETTINGS not yet acknowledged: the window stays as it was
  }
}

/**
 * Sets the receive windows of every HTTP/2 session the server accepts from now on (call it before
 * bindAsync): `bytes` per connection, and per stream while an upload holds a slot (`widen`), 64 KiB
 * otherwise. Returns null, changing nothing, when this grpc-js does not have the internals it uses.
 */
export function setReceiveWindow(server: grpc.Server, bytes: number): UploadWindows | null {
  if (!Number.isInteger(bytes) || bytes < MIN_RECEIVE_WINDOW || bytes > MAX_RECEIVE_WINDOW) {
    throw new RangeError(`receive window ${bytes} is not an integer from ${MIN_RECEIVE_WINDOW} to ${MAX_RECEIVE_WINDOW} bytes`);
  }
  const internals = server as unknown as GrpcServerInternals;
  const create = internals.createHttp2Server;
  const options = internals.commonServerOptions;
  if (typeof create !== "function" || typeof options !== "object" || options === null) return null;
  // Per stream: advertised in the server's SETTINGS frame (plaintext and TLS servers both use these options).
  options.settings = { ...options.settings, initialWindowSize: Math.min(bytes, WAITING_WINDOW) };
  // Per connection: not a SETTINGS value; one WINDOW_UPDATE as each session starts.
  internals.createHttp2Server = function (this: unknown, credentials: grpc.ServerCredentials) {
    const http2Server = create.call(this, credentials);
    http2Server.on("session", (session: ServerHttp2Session) => session.setLocalWindowSize(bytes));
    return http2Server;
  };
  /** Uploads holding a slot, per session. */
  const widened = new WeakMap<ServerHttp2Session, number>();
  return {
    widen(call) {
      const session = bytes > WAITING_WINDOW ? sessionOf(call) : undefined;
      if (!session) return () => undefined;
      const n = widened.get(session) ?? 0;
      widened.set(session, n + 1);
      if (n === 0) advertise(session, bytes);
      let narrowed = false;
      return () => {
        if (narrowed) return;
        narrowed = true;
        const left = (widened.get(session) ?? 1) - 1;
        widened.set(session, left);
        if (left === 0) advertise(session, WAITING_WINDOW);
      };
    },
  };
}
