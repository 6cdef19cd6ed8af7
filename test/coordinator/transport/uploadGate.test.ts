import { describe, expect, it } from "vitest";
import { UploadGate } from "../../../coordinator/transport/uploadGate.js";

describe("upload gate", () => {
  it("admits at most `slots` uploads and hands slots on in arrival order", async () => {
    const gate = new UploadGate(2);
    const order: number[] = [];
    const a = await gate.acquire();
    const b = await gate.acquire();
    const waiting = [3, 4].map((n) => gate.acquire().then((release) => (order.push(n), release)));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    expect(gate.inUse).toBe(2);
    a();
    a(); // releasing twice frees one slot only
    const c = await waiting[0];
    expect(order).toEqual([3]);
    expect(gate.inUse).toBe(2);
    b();
    const d = await waiting[1];
    expect(order).toEqual([3, 4]);
    c();
    d();
    expect(gate.inUse).toBe(0);
  });
});
