/**
 * One of grpc-js's internal modules (build/src/<file>), for the transport hooks that have no public API to
 * use (framedSends.ts, pooledReceives.ts); undefined when this grpc-js has no such file, so a hook can
 * leave grpc-js as it is and say so.
 */
import { createRequire } from "node:module";

export function grpcInternal<T>(file: string): T | undefined {
  try {
    return createRequire(import.meta.url)(`@grpc/grpc-js/build/src/${file}`) as T;
  } catch {
    return undefined;
  }
}
