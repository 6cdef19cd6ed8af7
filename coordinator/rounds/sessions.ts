/**
 * The clients' sessions: who is joined, when each was last heard from, and why a session the coordinator
 * closed was closed. Bookkeeping only; the round state machine decides what a join or a loss means for the
 * rounds.
 */
import { randomUUID } from "node:crypto";
import type { ClientInfo, ClientRecord } from "./types.js";

export interface Joined {
  record: ClientRecord;
  /** The same client process joining again (a retry whose first answer was lost): its session, unchanged. */
  again: boolean;
  /** The site's older session, closed because a new process of the site joined. */
  replaced: ClientRecord | null;
}

/**
 * How many closed sessions' reasons are kept. A replaced process learns why on its next call (seconds later,
 * at most a long-poll's 20 s); every restart of every site adds one, so without a bound the list grows for as
 * long as the coordinator runs.
 */
export const MAX_CLOSED_REASONS = 10_000;

export class Sessions {
  private readonly live = new Map<string, ClientRecord>();
  /** The live session of each site (a join looks its site up here: a scan made 10,000 joins quadratic). */
  private readonly bySite = new Map<string, ClientRecord>();
  /** Why replaced sessions were closed: the latest MAX_CLOSED_REASONS (their processes ask on their next call). */
  private readonly closed = new Map<string, string>();

  get size(): number {
    return this.live.size;
  }

  get(sessionId: string): ClientRecord | undefined {
    return this.live.get(sessionId);
  }

  ids(): string[] {
    return [...this.live.keys()];
  }

  /**
   * A join repeated by the same process gets its session back: a second one would be selected for rounds
   * and never answer. A new process for a site already joined (a restarted client) replaces the older
   * session, which would otherwise hold up rounds until their deadline.
   */
  join(info: ClientInfo, now: number): Joined {
    // A site has at most one live session: every join of a site ends with exactly one.
    const existing = this.bySite.get(info.siteName) ?? null;
    if (existing && info.instanceId && existing.instanceId === info.instanceId) {
      existing.lastSeen = now;
      return { record: existing, again: true, replaced: null };
    }
    if (existing) {
      this.live.delete(existing.sessionId);
      this.closed.set(existing.sessionId, `site ${info.siteName} joined again from another client process`);
      // Oldest first (a Map keeps insertion order): a coordinator running for months keeps a bounded list.
      if (this.closed.size > MAX_CLOSED_REASONS) this.closed.delete(this.closed.keys().next().value!);
    }
    const record: ClientRecord = { ...info, sessionId: randomUUID(), joinedAt: now, lastSeen: now };
    this.live.set(record.sessionId, record);
    this.bySite.set(record.siteName, record);
    return { record, again: false, replaced: existing };
  }

  /** A call from this session: it is alive. False when the session is not (or no longer) known. */
  heardFrom(sessionId: string, now: number): boolean {
    const c = this.live.get(sessionId);
    if (c) c.lastSeen = now;
    return c !== undefined;
  }

  /** Why the coordinator closed a session that is no longer known, if it did (see join). */
  closedReason(sessionId: string): string | undefined {
    return this.closed.get(sessionId);
  }

  remove(sessionId: string): ClientRecord | undefined {
    const c = this.live.get(sessionId);
    this.live.delete(sessionId);
    if (c && this.bySite.get(c.siteName) === c) this.bySite.delete(c.siteName);
    return c;
  }

  /** Moves every session's last contact `ms` later: time in which the coordinator could not hear anyone. */
  excuse(ms: number): void {
    for (const c of this.live.values()) c.lastSeen += ms;
  }

  /** Sessions last heard from before `cutoff`. */
  silentSince(cutoff: number): ClientRecord[] {
    return [...this.live.values()].filter((c) => c.lastSeen < cutoff);
  }
}
