import { describe, expect, it } from "vitest";
import { UploadGate } from "../../../coordinator/transport/uploadGate.js";

describe("upload gate", () => {
  it("admits at most `slots` uploads and hands slots on in arrival order", async () => {
    const gate = new UploadGate(2);
    const order: number[] = [];
    const a = await gate.acquire();
    const b = await gate.acquire();
    const waiting = [3, 4].map((n) => gate.acquire().then((slot) => (order.push(n), slot)));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    expect(gate.inUse).toBe(2);
    a.release(true);
    a.release(true); // releasing twice frees one slot only
    const c = await waiting[0];
    expect(order).toEqual([3]);
    expect(gate.inUse).toBe(2);
    b.release(true);
    const d = await waiting[1];
    expect(order).toEqual([3, 4]);
    c.release(true);
    d.release(true);
    expect(gate.inUse).toBe(0);
  });

  it("lends buffers that come back with the slot, unless the upload's data is still referenced", async () => {
    const gate = new UploadGate(2);
    const s1 = await gate.acquire();
    const b1 = s1.buffer(1000);
    expect(b1.byteLength).toBe(1000);
    b1.fill(7);
    s1.release(true);
    // The next upload of the same size gets the same memory; a smaller one fits in it too.
    const s2 = await gate.acquire();
    const b2 = s2.buffer(1000);
    expect(b2.buffer).toBe(b1.buffer);
    s2.release(false); // kept by a strategy: never handed out again
    const s3 = await gate.acquire();
    const b3 = s3.buffer(600);
    expect(b3.buffer).not.toBe(b1.buffer);
    expect(b3.byteLength).toBe(600);
    expect(Array.from(b3.subarray(0, 4))).toEqual([0, 0, 0, 0]); // fresh memory
    s3.release(true);
    const s4 = await gate.acquire();
    expect(s4.buffer(500).buffer).toBe(b3.buffer);
    // Two uploads at once never share a buffer.
    const s5 = await gate.acquire();
    expect(s5.buffer(500).buffer).not.toBe(b3.buffer);
    s4.release(true);
    s5.release(true);
  });

  it("lends a lossy upload's decode space beside its buffer, reused the same way", async () => {
    const gate = new UploadGate(1);
    const s1 = await gate.acquire();
    const bytes = s1.buffer(250);
    const floats = s1.decodeSpace(1000);
    expect(floats.length).toBe(1000);
    expect(floats.buffer).not.toBe(bytes.buffer); // both lent at once: never the same memory
    s1.release(true);
    const s2 = await gate.acquire();
    // Both come back: the next upload's decode space is the same memory, its buffer the other one.
    expect(s2.decodeSpace(1000).buffer).toBe(floats.buffer);
    expect(s2.buffer(250).buffer).toBe(bytes.buffer);
    s2.release(false); // a strategy keeps the decoded update: neither is lent again
    const s3 = await gate.acquire();
    expect(s3.decodeSpace(1000).buffer).not.toBe(floats.buffer);
    s3.release(true);
  });
});
