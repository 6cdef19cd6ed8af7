/**
 * handleDownload's bounds, on a stand-in for grpc-js's writable call (the seam the handler writes to): at
 * most PER_CALL chunks written and not yet sent per download, at most `slots` downloads sending, and a
 * cancelled download gives its slot back even though its writes are never called back. Over real gRPC, see
 * largeModelTransfer.test.ts.
 */
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { handleDownload, PER_CALL } from "../../../coordinator/transport/downloadHandler.js";
import { Slots } from "../../../coordinator/transport/slots.js";
import type { DownloadModelRequest, ModelChunk } from "../../../shared/generated/fedfusion/v1/federation.js";

/** Records writes; a write is "sent" (called back) only when the test says so. */
class FakeCall extends EventEmitter {
  readonly written: unknown[] = [];
  readonly pending: (() => void)[] = [];
  ended = false;
  write(message: unknown, cb?: () => void): boolean {
    this.written.push(message);
    if (cb) this.pending.push(cb);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  sendOne(): void {
    this.pending.shift()?.();
  }
}

const header = Buffer.from("header");
const chunks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(10, i));
const tick = () => new Promise((r) => setImmediate(r));
const start = (call: FakeCall, slots: Slots, bytes: number[] = []) =>
  handleDownload(call as unknown as grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>, { header, chunks }, { slots, recordTransfer: (b) => bytes.push(b) });

describe("handleDownload", () => {
  it("keeps at most PER_CALL chunks unsent, writes them in order, then ends and frees its slot", async () => {
    const call = new FakeCall();
    const slots = new Slots(4);
    const bytes: number[] = [];
    const done = start(call, slots, bytes);
    await tick();
    expect(call.written).toEqual([header, chunks[0], chunks[1]]);
    expect(call.pending).toHaveLength(PER_CALL);
    call.sendOne();
    await tick();
    expect(call.written).toHaveLength(4);
    while (call.pending.length > 0) {
      expect(call.pending.length).toBeLessThanOrEqual(PER_CALL);
      call.sendOne();
      await tick();
    }
    await done;
    expect(call.written).toEqual([header, ...chunks]);
    expect(call.ended).toBe(true);
    expect(slots.inUse).toBe(0);
    expect(bytes).toEqual([header, ...chunks].map((c) => 5 + c.length));
  });

  it("lets `slots` downloads send at once; the next one starts when one ends", async () => {
    const slots = new Slots(1);
    const [a, b] = [new FakeCall(), new FakeCall()];
    const doneA = start(a, slots);
    const doneB = start(b, slots);
    await tick();
    expect(a.written.length).toBeGreaterThan(0);
    expect(b.written).toEqual([]);
    while (a.pending.length > 0) {
      a.sendOne();
      await tick();
    }
    await doneA;
    await tick();
    expect(b.written[0]).toEqual(header);
    expect(slots.queued).toBe(0);
    while (b.pending.length > 0) {
      b.sendOne();
      await tick();
    }
    await doneB;
    expect(slots.inUse).toBe(0);
  });

  it("frees its slot when the call is cancelled, though its writes are never called back", async () => {
    const slots = new Slots(1);
    const call = new FakeCall();
    const done = start(call, slots);
    await tick();
    expect(slots.inUse).toBe(1);
    call.emit("cancelled");
    await done;
    expect(slots.inUse).toBe(0);
    expect(call.ended).toBe(false);
    // A download cancelled while it waits for a slot never writes, and passes the slot on.
    const holderCall = new FakeCall();
    const holder = start(holderCall, slots);
    const waiting = new FakeCall();
    const queued = start(waiting, slots);
    waiting.emit("cancelled");
    await tick();
    expect(slots.queued).toBe(1);
    holderCall.emit("cancelled");
    await Promise.all([holder, queued]);
    expect(waiting.written).toEqual([]);
    expect(slots.inUse).toBe(0);
  });
});
