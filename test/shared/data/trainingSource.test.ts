import { describe, expect, it } from "vitest";
import type { ImageDataset } from "../../../shared/data/imageDataset.js";
import { inMemorySource, isTrainingSource, prefetched, toTrainingSource } from "../../../shared/data/trainingSource.js";

const d: ImageDataset = {
  images: Uint8Array.from({ length: 5 * 4 }, (_, i) => i),
  labels: Uint8Array.from([0, 1, 0, 1, 1]),
  count: 5,
  height: 2,
  width: 2,
  channels: 1,
  classNames: ["x", "y"],
};

describe("inMemorySource", () => {
  it("hands out views into the dataset in batches of the given size, without copying", async () => {
    const s = inMemorySource(d);
    expect(isTrainingSource(s)).toBe(true);
    expect(isTrainingSource(d)).toBe(false);
    expect(toTrainingSource(s)).toBe(s);
    const order = Uint32Array.from([3, 1, 4, 0, 2]);
    const views = [];
    for await (const v of s.batches(order, 2)) views.push(v);
    expect(views.map((v) => [v.start, v.end])).toEqual([[0, 2], [2, 4], [4, 5]]);
    expect(views.every((v) => v.data === d && v.order === order)).toBe(true);
    await expect(async () => {
      for await (const _ of s.batches(order, 0)) void _;
    }).rejects.toThrow(/batch size/);
  });

  it("subsets copy the chosen examples", () => {
    const sub = inMemorySource(d).subset([4, 1]);
    expect(sub.count).toBe(2);
    expect(Array.from(sub.labels)).toEqual([1, 1]);
    expect(Array.from(sub.dataset.images)).toEqual([16, 17, 18, 19, 4, 5, 6, 7]);
  });
});

describe("prefetched", () => {
  it("yields in order with at most `ahead` started beyond the one being consumed", async () => {
    let started = 0;
    let consumed = 0;
    let maxAhead = 0;
    const out: number[] = [];
    const gen = prefetched(10, 2, async (i) => {
      started++;
      maxAhead = Math.max(maxAhead, started - consumed);
      await new Promise((r) => setTimeout(r, (10 - i) % 3));
      return i * i;
    });
    for await (const v of gen) {
      out.push(v);
      await new Promise((r) => setTimeout(r, 2));
      consumed++;
    }
    expect(out).toEqual(Array.from({ length: 10 }, (_, i) => i * i));
    // The one consumed plus two ahead.
    expect(maxAhead).toBeLessThanOrEqual(3);
  });

  it("waits for work already started when the consumer stops, and reports a failure in its turn", async () => {
    let finished = 0;
    const produce = async (i: number) => {
      await new Promise((r) => setTimeout(r, 5));
      finished++;
      if (i === 3) throw new Error("bad batch 3");
      return i;
    };
    for await (const v of prefetched(10, 2, produce)) if (v === 0) break;
    expect(finished).toBe(3);
    const got: number[] = [];
    await expect(async () => {
      for await (const v of prefetched(10, 2, produce)) got.push(v);
    }).rejects.toThrow("bad batch 3");
    expect(got).toEqual([0, 1, 2]);
  });
});
