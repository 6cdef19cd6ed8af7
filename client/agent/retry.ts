/**
 * Retrying calls over a flaky link: transient gRPC failures are retried with capped, jittered exponential
 * backoff until the budget since the last success runs out; anything else is passed straight up.
 */
import { status, type ServiceError } from "@grpc/grpc-js";

const TRANSIENT = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED, status.INTERNAL, status.UNKNOWN, status.CANCELLED]);

export function isTransient(e: unknown): boolean {
  const code = (e as Partial<ServiceError>)?.code;
  return typeof code === "number" && TRANSIENT.has(code);
}

export interface RetryPolicy {
  /** Give up when no call has succeeded for this long. */
  budgetMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { budgetMs: 300_000, initialDelayMs: 250, maxDelayMs: 10_000 };

export async function withRetry<T>(
  what: string,
  policy: RetryPolicy,
  attempt: () => Promise<T>,
  onRetry: (message: string) => void,
): Promise<T> {
  const started = Date.now();
  let delay = policy.initialDelayMs;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isTransient(e)) throw e;
      const left = policy.budgetMs - (Date.now() - started);
      if (left <= 0) throw e;
      const wait = Math.min(delay * (0.5 + Math.random() / 2), left);
      onRetry(`${what} failed (${describeGrpcError(e)}); retry ${tries} in ${(wait / 1000).toFixed(1)}s`);
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}

/** "UNAVAILABLE: No connection established" → a short readable reason. */
export function describeGrpcError(e: unknown): string {
  const err = e as Partial<ServiceError>;
  const name = typeof err.code === "number" ? status[err.code] : "ERROR";
  return `${name}: ${(err.details || err.message || String(e)).split("\n")[0]}`;
}
