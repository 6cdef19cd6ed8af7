/**
 * Splits a dataset's examples among simulated clients, IID or with the standard kinds of non-IID skew
 * used to study federated learning:
 *   iid               shuffled, equal shares
 *   dirichlet:<alpha> label skew: each class is spread over clients by proportions ~ Dir(alpha)
 *                     (Hsu et al. 2019; NIID-Bench, Flower's DirichletPartitioner). Small alpha: few
 *                     classes per client; large alpha: close to IID.
 *   shards:<k>        pathological label skew (McMahan et al. 2017): examples sorted by label, cut into
 *                     clients·k shards, k shards per client, so each client sees at most k classes
 *   quantity:<alpha>  quantity skew: client sizes ~ Dir(alpha), labels IID
 * Everything is pure and drawn from a Random seeded by the caller, so `--seed` reproduces a partition.
 * Every example goes to at most one client, and no client is left empty.
 */
import { UserError } from "../../shared/errors.js";
import { permutation, Random, sampleIndices } from "../../shared/random.js";

export type PartitionSpec =
  | { kind: "iid" }
  | { kind: "dirichlet"; alpha: number }
  | { kind: "shards"; classesPerClient: number }
  | { kind: "quantity"; alpha: number };

const VALID_FORMS =
  "iid, dirichlet:<alpha> (label skew, alpha > 0, smaller is more skewed), shards:<k> (k ≥ 1 classes per client) or quantity:<alpha> (size skew, alpha > 0)";

/**
 * Each client gets at least this many examples when the data allows (at most an equal share): a client
 * with one or two examples has nothing to train on. Flower and NIID-Bench use the same bound of 10.
 */
const MIN_CLIENT_SIZE = 10;
/** Dirichlet draws tried before the deterministic fix-up tops small clients up (see fixUpSizes). */
const MAX_DRAWS = 100;

export function parsePartitionSpec(s: string): PartitionSpec {
  const t = s.trim().toLowerCase();
  if (t === "iid") return { kind: "iid" };
  const m = /^(dirichlet|shards|quantity):(.*)$/.exec(t);
  if (m) {
    const [, kind, arg] = m;
    if (kind === "shards") {
      const k = /^\d+$/.test(arg) ? Number(arg) : NaN;
      if (k >= 1 && Number.isSafeInteger(k)) return { kind: "shards", classesPerClient: k };
      throw new UserError(`invalid partition '${s}': k must be a whole number ≥ 1; expected ${VALID_FORMS}`);
    }
    const alpha = /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(arg) ? Number(arg) : NaN;
    if (alpha > 0 && Number.isFinite(alpha)) return { kind: kind as "dirichlet" | "quantity", alpha };
    throw new UserError(`invalid partition '${s}': alpha must be a number > 0; expected ${VALID_FORMS}`);
  }
  throw new UserError(`invalid partition '${s}': expected ${VALID_FORMS}`);
}

/** The spec in the form parsePartitionSpec reads, for logs and run records. */
export function formatPartitionSpec(spec: PartitionSpec): string {
  switch (spec.kind) {
    case "iid":
      return "iid";
    case "shards":
      return `shards:${spec.classesPerClient}`;
    case "dirichlet":
    case "quantity":
      return `${spec.kind}:${spec.alpha}`;
  }
}

/**
 * Example indices for each of `numClients` clients, each list in ascending order (the order carries no
 * meaning: training shuffles; ascending keeps reads through `subset` sequential).
 */
export function partitionIndices(
  labels: Uint8Array,
  numClasses: number,
  numClients: number,
  spec: PartitionSpec,
  seed: number,
): Uint32Array[] {
  if (!Number.isSafeInteger(numClients) || numClients < 1) {
    throw new UserError(`the number of clients must be a whole number ≥ 1, got ${numClients}`);
  }
  if (labels.length < numClients) {
    throw new UserError(`cannot give each of ${numClients} clients an example: the dataset has only ${labels.length}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) throw new RangeError(`label ${labels[i]} of example ${i} is not below numClasses ${numClasses}`);
  }
  const rng = new Random(seed);
  const minSize = Math.max(1, Math.min(MIN_CLIENT_SIZE, Math.floor(labels.length / numClients)));
  let parts: ArrayLike<number>[];
  switch (spec.kind) {
    case "iid": {
      const perm = permutation(labels.length, rng);
      parts = cut(perm, equalSizes(labels.length, numClients));
      break;
    }
    case "quantity": {
      const perm = permutation(labels.length, rng);
      let sizes: number[] = [];
      for (let draw = 0; draw < MAX_DRAWS; draw++) {
        sizes = sizesFromProportions(dirichlet(rng, spec.alpha, numClients), labels.length);
        if (minOf(sizes) >= minSize) break;
      }
      parts = cut(perm, fixUpSizes(sizes, minSize));
      break;
    }
    case "dirichlet":
      parts = dirichletLabelSkew(labels, numClasses, numClients, spec.alpha, minSize, rng);
      break;
    case "shards":
      parts = shards(labels, numClasses, numClients, spec.classesPerClient, rng);
      break;
  }
  return parts.map((p) => Uint32Array.from(p).sort());
}

/** Sizes differing by at most 1 that sum to n; the first n mod k get the extra one. */
function equalSizes(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/** Consecutive pieces of `items` with the given sizes. */
function cut(items: Uint32Array | number[], sizes: number[]): ArrayLike<number>[] {
  const out: ArrayLike<number>[] = [];
  let at = 0;
  for (const s of sizes) {
    out.push(items.slice(at, at + s));
    at += s;
  }
  return out;
}

/** Examples of each class, each list in a seeded random order. */
function indicesByClass(labels: Uint8Array, numClasses: number, rng: Random): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  for (const list of byClass) rng.shuffle(list);
  return byClass;
}

/**
 * One draw from Dirichlet(alpha, …, alpha) over k outcomes, normalised gammas computed in log space:
 * Random.gamma handles alpha < 1 as Gamma(alpha + 1)·U^(1/alpha), and for the small alphas that make
 * interesting skew (0.01) U^(100) underflows to 0 for every client, giving 0/0. Same identity, in logs.
 */
function dirichlet(rng: Random, alpha: number, k: number): Float64Array {
  const logs = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    logs[i] = alpha >= 1 ? Math.log(rng.gamma(alpha)) : Math.log(rng.gamma(alpha + 1)) + Math.log(1 - rng.next()) / alpha;
  }
  let max = -Infinity;
  for (const l of logs) max = Math.max(max, l);
  const p = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += p[i] = Math.exp(logs[i] - max);
  for (let i = 0; i < k; i++) p[i] /= sum;
  return p;
}

/** Integer sizes summing to `total` from proportions: cut points at the rounded-down cumulative shares. */
function sizesFromProportions(p: ArrayLike<number>, total: number): number[] {
  const sizes: number[] = [];
  let cum = 0;
  let prev = 0;
  for (let i = 0; i < p.length; i++) {
    cum += p[i];
    const end = i === p.length - 1 ? total : Math.min(total, Math.floor(cum * total));
    sizes.push(end - prev);
    prev = end;
  }
  return sizes;
}

/**
 * When no draw satisfied the minimum size (very small alpha with many clients), top up each small client
 * one example at a time from the currently largest one (lowest index on ties): deterministic, and it moves
 * only the few examples needed, so the drawn skew survives.
 */
function fixUpSizes(sizes: number[], minSize: number): number[] {
  const s = [...sizes];
  for (let needy = 0; needy < s.length; needy++) {
    while (s[needy] < minSize) {
      s[argMax(s)]--;
      s[needy]++;
    }
  }
  return s;
}

/** Math.min without spreading, which overflows the call stack for very many clients. */
function minOf(a: readonly number[]): number {
  let m = Infinity;
  for (const v of a) m = Math.min(m, v);
  return m;
}

function argMax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

function dirichletLabelSkew(
  labels: Uint8Array,
  numClasses: number,
  numClients: number,
  alpha: number,
  minSize: number,
  rng: Random,
): number[][] {
  const byClass = indicesByClass(labels, numClasses, rng);
  let parts: number[][] = [];
  // Redraw until every client has minSize examples, as NIID-Bench and Flower do.
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    parts = Array.from({ length: numClients }, () => []);
    for (const members of byClass) {
      if (members.length === 0) continue;
      const sizes = sizesFromProportions(dirichlet(rng, alpha, numClients), members.length);
      let at = 0;
      sizes.forEach((s, client) => {
        for (let j = 0; j < s; j++) parts[client].push(members[at++]);
      });
    }
    if (minOf(parts.map((p) => p.length)) >= minSize) return parts;
  }
  // Same top-up as fixUpSizes, moving actual examples: the largest client's most recently added one.
  const sizes = parts.map((p) => p.length);
  for (let needy = 0; needy < numClients; needy++) {
    while (parts[needy].length < minSize) {
      const donor = argMax(sizes);
      parts[needy].push(parts[donor].pop()!);
      sizes[donor]--;
      sizes[needy]++;
    }
  }
  return parts;
}

/**
 * McMahan's pathological split with class-pure shards: each class is cut into its own shards (instead of
 * cutting the label-sorted list at fixed offsets, where a shard can straddle two classes), so a client with
 * k shards has at most k classes whatever the class sizes. Shards are handed out to classes so that the
 * largest shard is as small as possible, which makes shard sizes near n/(clients·k) as in the original.
 * With fewer shards than classes, the smallest classes get none and are left out.
 */
function shards(labels: Uint8Array, numClasses: number, numClients: number, k: number, rng: Random): number[][] {
  const total = numClients * k;
  if (total > labels.length) {
    throw new UserError(`shards:${k} for ${numClients} clients needs ${total} shards, more than the ${labels.length} examples`);
  }
  const byClass = indicesByClass(labels, numClasses, rng);
  const counts = byClass.map((m) => m.length);
  const alloc = new Array<number>(numClasses).fill(0);
  for (let s = 0; s < total; s++) {
    // The class whose shards are currently largest gets the next one (an empty class never qualifies).
    let best = -1;
    let bestScore = 0;
    for (let c = 0; c < numClasses; c++) {
      if (counts[c] === 0) continue;
      const score = alloc[c] === 0 ? Infinity : counts[c] / alloc[c];
      if (best < 0 || score > bestScore || (score === bestScore && counts[c] > counts[best])) {
        best = c;
        bestScore = score;
      }
    }
    alloc[best]++;
  }
  const shardList: number[][] = [];
  byClass.forEach((members, c) => {
    if (alloc[c] > 0) shardList.push(...(cut(members, equalSizes(members.length, alloc[c])) as number[][]));
  });
  const order = permutation(total, rng);
  return Array.from({ length: numClients }, (_, client) => {
    const mine: number[] = [];
    for (let j = 0; j < k; j++) mine.push(...shardList[order[client * k + j]]);
    return mine;
  });
}

/** A per-client table of class counts (plus totals and the number of classes present), for logs. */
export function formatHistograms(parts: readonly ArrayLike<number>[], labels: Uint8Array, classNames: readonly string[]): string {
  const rows: string[][] = [];
  const totals = new Array<number>(classNames.length).fill(0);
  parts.forEach((p, client) => {
    const h = new Array<number>(classNames.length).fill(0);
    for (let i = 0; i < p.length; i++) h[labels[p[i]]]++;
    h.forEach((v, c) => (totals[c] += v));
    const present = h.filter((v) => v > 0).length;
    // Zeros as "." so the pattern of which classes a client has stands out in skewed partitions.
    rows.push([String(client), String(p.length), String(present), ...h.map((v) => (v === 0 ? "." : String(v)))]);
  });
  const used = totals.reduce((a, b) => a + b, 0);
  rows.push(["total", String(used), String(totals.filter((v) => v > 0).length), ...totals.map(String)]);
  const header = ["client", "examples", "classes", ...classNames];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col].length)));
  const line = (cells: string[]) => cells.map((c, col) => c.padStart(widths[col])).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/**
 * Each client's indices capped at `cap` examples by a seeded random subset (kept ascending), the same way in
 * `simulate` and `partition`, so the two give the same shards for the same seed.
 */
export function capPartition(parts: readonly Uint32Array[], cap: number | undefined, seed: number): Uint32Array[] {
  return parts.map((indices, i) =>
    !cap || indices.length <= cap ? indices : Uint32Array.from(sampleIndices(indices.length, cap, new Random(seed + i)), (k) => indices[k]),
  );
}
