/**
 * The coordinator's HTTP/2 receive window, which bounds how much of an upload can be in flight.
 *
 * grpc-js (through 1.14) leaves a server's receive window at Node's default of 64 KiB. The client side has
 * `grpc-node.flow_control_window` (our clients use it for downloads), but the server reads no such option
 * (grpc/grpc-node pull request #3058, open). An upload therefore moves at most 64 KiB per round trip:
 * ~1.3 MB/s on a 50 ms link, whatever the link's speed. Even on loopback, the sender stalls and both
 * processes wake up for every 32 KiB. Measured here (a 4 MB update, one client, loopback): coordinator
 * CPU per upload 15–19 ms → 7–10 ms, upload time 32–44 ms → 14–22 ms.
 *
 * What it costs: an upload that waits at the UploadGate (paused) holds up to one window of its data in
 * the coordinator, 1 MiB instead of 64 KiB.
 *
 * grpc-js has no public hook for either window, so this reaches two of its internals: the options it
 * passes to `http2.createServer` (where the per-stream window is a SETTINGS value) and the method that
 * creates each HTTP/2 server (to raise the per-connection window, which SETTINGS cannot set, on every
 * session). Where they are missing (another grpc-js), nothing changes and the caller is told;
 * test/coordinator/transport/receiveWindow.test.ts checks on the wire that the windows are raised.
 */
import type * as grpc from "@grpc/grpc-js";
import type { Http2Server, ServerHttp2Session } from "node:http2";

/** 1 MiB: a 4 MB update in four round trips; ~20 MB/s per upload on a 50 ms link. */
export const DEFAULT_RECEIVE_WINDOW = 1 << 20;
/** HTTP/2's bounds on a window (RFC 9113 §6.9.2). */
export const MIN_RECEIVE_WINDOW = 65_535;
export const MAX_RECEIVE_WINDOW = 2 ** 31 - 1;

interface GrpcServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  createHttp2Server?: (credentials: grpc.ServerCredentials) => Http2Server;
}

/**
 * Raises the receive window of every HTTP/2 session the server accepts from now on (call it before
 * bindAsync). Returns false, changing nothing, when this grpc-js does not have the internals it uses.
 */
export function setReceiveWindow(server: grpc.Server, bytes: number): boolean {
  if (!Number.isInteger(bytes) || bytes < MIN_RECEIVE_WINDOW || bytes > MAX_RECEIVE_WINDOW) {
    throw new RangeError(`receive window ${bytes} is not an integer from ${MIN_RECEIVE_WINDOW} to ${MAX_RECEIVE_WINDOW} bytes`);
  }
  const internals = server as unknown as GrpcServerInternals;
  const create = internals.createHttp2Server;
  const options = internals.commonServerOptions;
  if (typeof create !== "function" || typeof options !== "object" || options === null) return false;
  // Per stream: advertised in the server's SETTINGS frame (plaintext and TLS servers both use these options).
  options.settings = { ...options.settings, initialWindowSize: bytes };
  // Per connection: not a SETTINGS value; one WINDOW_UPDATE as each session starts.
  internals.createHttp2Server = function (this: unknown, credentials: grpc.ServerCredentials) {
    const http2Server = create.call(this, credentials);
    http2Server.on("session", (session: ServerHttp2Session) => session.setLocalWindowSize(bytes));
    return http2Server;
  };
  return true;
}
