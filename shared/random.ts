/**
 * Seeded pseudo-random numbers (mulberry32). Everything that must be reproducible from `--seed`
 * (partitions, client sampling, shuffling, weight initialisation) draws from one of these, never Math.random.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia–Tsang; used for Dirichlet draws. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(this.next(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(a: T[] | Uint32Array | Int32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A fresh independent stream, for handing one seed on to a sub-task (a client, a round). */
  fork(salt: number): Random {
    return new Random((this.state ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0);
  }
}

/** A permutation of 0..n-1. */
export function permutation(n: number, rng: Random): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return rng.shuffle(p) as Uint32Array;
}

/** k distinct indices drawn from 0..n-1, in ascending order (ascending keeps later reads sequential). */
export function sampleIndices(n: number, k: number, rng: Random): Uint32Array {
  if (k >= n) return permutation(n, rng).sort();
  return permutation(n, rng).subarray(0, k).sort();
}

/** A stable 32-bit number from a name (FNV-1a), so each site's seeds differ yet are reproducible. */
export function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}
