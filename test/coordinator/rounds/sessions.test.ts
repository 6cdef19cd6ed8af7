import { describe, expect, it } from "vitest";
import { MAX_CLOSED_REASONS, Sessions } from "../../../coordinator/rounds/sessions.js";

const info = (siteName: string, instanceId?: string) => ({ siteName, numExamples: 1, backend: "cpu", encodings: ["float32" as const], instanceId });

describe("sessions", () => {
  it("give a process that joins again its session; a new process of a site replaces the old one, which stays explained", () => {
    const s = new Sessions();
    const a = s.join(info("a", "p1"), 0);
    expect(a).toMatchObject({ again: false, replaced: null });
    expect(s.join(info("a", "p1"), 5)).toEqual({ record: a.record, again: true, replaced: null });
    const b = s.join(info("a", "p2"), 9);
    expect(b.replaced).toBe(a.record);
    expect(s.size).toBe(1);
    expect(s.get(a.record.sessionId)).toBeUndefined();
    expect(s.closedReason(a.record.sessionId)).toBe("site a joined again from another client process");
    // Without an instance id (an older client), a join is a new process.
    expect(s.join(info("a"), 10).replaced).toBe(b.record);
  });

  it("find a site's session after any mix of joins, replacements and removals", () => {
    const s = new Sessions();
    const a1 = s.join(info("a", "p1"), 0).record;
    const a2 = s.join(info("a", "p2"), 1).record; // replaces a1
    expect(s.remove(a1.sessionId)).toBeUndefined(); // already gone: a2 stays the site's session
    expect(s.join(info("a", "p2"), 2)).toMatchObject({ record: a2, again: true });
    expect(s.remove(a2.sessionId)).toBe(a2);
    // Removed: the site's next process starts afresh, replacing nothing.
    expect(s.join(info("a", "p2"), 3)).toMatchObject({ again: false, replaced: null });
    // Many sites: each join finds only its own site.
    for (let i = 0; i < 1000; i++) expect(s.join(info(`site-${i}`, "p"), 4).replaced).toBeNull();
    expect(s.join(info("site-500", "q"), 5).replaced?.siteName).toBe("site-500");
    expect(s.size).toBe(1001);
  });

  it("keep the reasons of the latest closed sessions only", () => {
    const s = new Sessions();
    const first = s.join(info("a", "p0"), 0).record;
    let last = first;
    for (let i = 1; i <= MAX_CLOSED_REASONS + 1; i++) last = s.join(info("a", `p${i}`), i).record; // each replaces the one before
    expect(s.size).toBe(1);
    expect(s.get(last.sessionId)).toBe(last);
    expect(s.closedReason(first.sessionId)).toBeUndefined(); // the oldest reason went
    expect(s.closedReason(s.join(info("a", "again"), 0).replaced!.sessionId)).toBe("site a joined again from another client process");
  });

  it("know when each was last heard from", () => {
    const s = new Sessions();
    const a = s.join(info("a"), 0).record;
    const b = s.join(info("b"), 0).record;
    expect(s.heardFrom(a.sessionId, 50)).toBe(true);
    expect(s.silentSince(40)).toEqual([b]);
    expect(s.remove(b.sessionId)).toBe(b);
    expect(s.heardFrom(b.sessionId, 60)).toBe(false);
    expect(s.closedReason(b.sessionId)).toBeUndefined();
    expect(s.ids()).toEqual([a.sessionId]);
  });
});
