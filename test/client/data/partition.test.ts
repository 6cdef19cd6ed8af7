import { describe, expect, it } from "vitest";
import {
  capPartition,
  formatHistograms,
  formatPartitionSpec,
  parsePartitionSpec,
  partitionIndices,
  type PartitionSpec,
} from "../../../client/data/partition.js";
import { UserError } from "../../../shared/errors.js";
import { permutation, Random } from "../../../shared/random.js";

/** 10 balanced classes of `perClass`, in a shuffled order. */
function balancedLabels(perClass: number, classes = 10): Uint8Array {
  const order = permutation(perClass * classes, new Random(99));
  return Uint8Array.from(order, (i) => i % classes);
}

/** Uneven classes: sizes 13, 40, 77, … so class boundaries never line up with shard boundaries. */
function unevenLabels(): Uint8Array {
  const out: number[] = [];
  [13, 40, 77, 120, 9, 61, 33, 150, 88, 29].forEach((n, c) => {
    for (let i = 0; i < n; i++) out.push(c);
  });
  return Uint8Array.from(out);
}

function classCounts(part: Uint32Array, labels: Uint8Array, classes = 10): number[] {
  const h = new Array<number>(classes).fill(0);
  for (const i of part) h[labels[i]]++;
  return h;
}

function entropy(counts: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return -counts.filter((c) => c > 0).reduce((s, c) => s + (c / n) * Math.log(c / n), 0);
}

function meanEntropy(parts: Uint32Array[], labels: Uint8Array): number {
  return parts.reduce((s, p) => s + entropy(classCounts(p, labels)), 0) / parts.length;
}

/** Asserts each index appears at most once overall; returns how many were used. */
function expectDisjoint(parts: Uint32Array[], n: number): number {
  const seen = new Uint8Array(n);
  for (const p of parts) {
    for (const i of p) {
      expect(i).toBeLessThan(n);
      expect(seen[i]).toBe(0);
      seen[i] = 1;
    }
  }
  return seen.reduce((a, b) => a + b, 0);
}

const SPECS: PartitionSpec[] = [
  { kind: "iid" },
  { kind: "dirichlet", alpha: 0.5 },
  { kind: "dirichlet", alpha: 0.01 },
  { kind: "shards", classesPerClient: 2 },
  { kind: "quantity", alpha: 0.3 },
  { kind: "quantity", alpha: 0.01 },
];

describe("parsePartitionSpec", () => {
  it("reads every form", () => {
    expect(parsePartitionSpec("iid")).toEqual({ kind: "iid" });
    expect(parsePartitionSpec(" Dirichlet:0.3 ")).toEqual({ kind: "dirichlet", alpha: 0.3 });
    expect(parsePartitionSpec("dirichlet:1e-2")).toEqual({ kind: "dirichlet", alpha: 0.01 });
    expect(parsePartitionSpec("shards:2")).toEqual({ kind: "shards", classesPerClient: 2 });
    expect(parsePartitionSpec("quantity:.5")).toEqual({ kind: "quantity", alpha: 0.5 });
    for (const spec of SPECS) expect(parsePartitionSpec(formatPartitionSpec(spec))).toEqual(spec);
  });

  it("rejects bad specs with a UserError listing the valid forms", () => {
    for (const bad of ["", "noniid", "dirichlet", "dirichlet:", "dirichlet:0", "dirichlet:-1", "dirichlet:abc", "shards:0", "shards:1.5", "quantity:inf", "iid:2"]) {
      const err = (() => {
        try {
          parsePartitionSpec(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(err, bad).toBeInstanceOf(UserError);
      expect((err as Error).message).toContain(`'${bad}'`);
      expect((err as Error).message).toMatch(/iid, dirichlet:<alpha>.*shards:<k>.*quantity:<alpha>/);
    }
  });
});

describe("partitionIndices", () => {
  const labels = balancedLabels(100);

  it.each(SPECS.map((s) => [formatPartitionSpec(s), s] as const))("%s: uses every example once and leaves no client empty", (_, spec) => {
    const parts = partitionIndices(labels, 10, 20, spec, 7);
    expect(parts).toHaveLength(20);
    expect(expectDisjoint(parts, labels.length)).toBe(labels.length);
    for (const p of parts) {
      // A client gets at least the minimum of 10 examples (the data allows it: 50 each on average).
      expect(p.length).toBeGreaterThanOrEqual(10);
      expect(Array.from(p)).toEqual(Array.from(p).sort((a, b) => a - b));
    }
  });

  it.each(SPECS.map((s) => [formatPartitionSpec(s), s] as const))("%s: reproducible from the seed, different with another", (_, spec) => {
    const a = partitionIndices(labels, 10, 20, spec, 7);
    const b = partitionIndices(labels, 10, 20, spec, 7);
    const c = partitionIndices(labels, 10, 20, spec, 8);
    expect(b.map((p) => Array.from(p))).toEqual(a.map((p) => Array.from(p)));
    expect(c.map((p) => Array.from(p))).not.toEqual(a.map((p) => Array.from(p)));
  });

  it("never leaves a client empty, even with tiny alpha, many clients and little data", () => {
    const small = balancedLabels(6); // 60 examples for 50 clients
    for (const spec of [{ kind: "dirichlet", alpha: 0.001 }, { kind: "quantity", alpha: 0.001 }] as PartitionSpec[]) {
      const parts = partitionIndices(small, 10, 50, spec, 3);
      expect(expectDisjoint(parts, small.length)).toBe(60);
      for (const p of parts) expect(p.length).toBeGreaterThanOrEqual(1);
    }
  });

  it("iid gives equal sizes and near-uniform classes", () => {
    const parts = partitionIndices(labels, 10, 7, { kind: "iid" }, 1);
    const sizes = parts.map((p) => p.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(meanEntropy(parts, labels)).toBeGreaterThan(0.9 * Math.log(10));
  });

  it("shards:2 gives each client at most 2 classes, even when class sizes do not line up with shards", () => {
    for (const l of [labels, unevenLabels()]) {
      const parts = partitionIndices(l, 10, 30, { kind: "shards", classesPerClient: 2 }, 5);
      expect(expectDisjoint(parts, l.length)).toBe(l.length);
      for (const p of parts) {
        expect(p.length).toBeGreaterThan(0);
        expect(classCounts(p, l).filter((c) => c > 0).length).toBeLessThanOrEqual(2);
      }
    }
    const one = partitionIndices(labels, 10, 10, { kind: "shards", classesPerClient: 1 }, 5);
    for (const p of one) expect(classCounts(p, labels).filter((c) => c > 0)).toEqual([100]);
  });

  it("dirichlet with small alpha is far more label-skewed than iid, and large alpha close to iid", () => {
    const iid = meanEntropy(partitionIndices(labels, 10, 20, { kind: "iid" }, 2), labels);
    const skewed = meanEntropy(partitionIndices(labels, 10, 20, { kind: "dirichlet", alpha: 0.1 }, 2), labels);
    const mild = meanEntropy(partitionIndices(labels, 10, 20, { kind: "dirichlet", alpha: 100 }, 2), labels);
    expect(skewed).toBeLessThan(0.5 * iid);
    expect(mild).toBeGreaterThan(0.9 * iid);
  });

  it("quantity skew varies client sizes while keeping labels mixed", () => {
    const parts = partitionIndices(labels, 10, 10, { kind: "quantity", alpha: 0.5 }, 4);
    const sizes = parts.map((p) => p.length);
    expect(Math.max(...sizes)).toBeGreaterThan(3 * Math.min(...sizes));
    // The largest clients (enough examples for the entropy to mean something) see nearly every class.
    const big = parts.filter((p) => p.length >= 100);
    expect(big.length).toBeGreaterThan(0);
    for (const p of big) expect(classCounts(p, labels).filter((c) => c > 0).length).toBeGreaterThanOrEqual(9);
  });

  it("rejects impossible requests", () => {
    expect(() => partitionIndices(labels.subarray(0, 5), 10, 6, { kind: "iid" }, 1)).toThrow(UserError);
    expect(() => partitionIndices(labels, 10, 0, { kind: "iid" }, 1)).toThrow(UserError);
    expect(() => partitionIndices(labels.subarray(0, 30), 10, 20, { kind: "shards", classesPerClient: 2 }, 1)).toThrow(/40 shards/);
    expect(() => partitionIndices(Uint8Array.from([0, 5]), 3, 1, { kind: "iid" }, 1)).toThrow(RangeError);
  });
});

describe("formatHistograms", () => {
  it("prints one row of class counts per client, plus totals", () => {
    const l = Uint8Array.from([0, 0, 1, 2, 2, 2]);
    const text = formatHistograms([Uint32Array.from([0, 1, 2]), Uint32Array.from([3, 4, 5])], l, ["cat", "dog", "bird"]);
    const rows = text.split("\n").map((r) => r.trim().split(/\s+/));
    expect(rows[0]).toEqual(["client", "examples", "classes", "cat", "dog", "bird"]);
    expect(rows[1]).toEqual(["0", "3", "2", "2", "1", "."]);
    expect(rows[2]).toEqual(["1", "3", "1", ".", ".", "3"]);
    expect(rows[3]).toEqual(["total", "6", "3", "2", "1", "3"]);
    // Right-aligned columns: every line has the same length.
    expect(new Set(text.split("\n").map((r) => r.length)).size).toBe(1);
  });
});

describe("capPartition", () => {
  it("keeps a seeded, ascending subset of each client's indices, at most cap of them", () => {
    const parts = [Uint32Array.from({ length: 50 }, (_, i) => 2 * i), Uint32Array.from([1, 3, 5])];
    const capped = capPartition(parts, 10, 7);
    expect(capped[0]).toHaveLength(10);
    expect(Array.from(capped[0]).every((v, i, a) => parts[0].includes(v) && (i === 0 || a[i - 1] < v))).toBe(true);
    expect(capped[1]).toBe(parts[1]); // under the cap: untouched
    expect(Array.from(capPartition(parts, 10, 7)[0])).toEqual(Array.from(capped[0]));
    expect(Array.from(capPartition(parts, 10, 8)[0])).not.toEqual(Array.from(capped[0]));
    expect(capPartition(parts, undefined, 7)).toEqual(parts);
  });
});
