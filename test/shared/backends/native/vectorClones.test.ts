/**
 * The addon's per-value loops are compiled more than once (src/vector_clones.h: AVX-512, AVX2 and baseline
 * x86-64 versions, picked by the CPU at load time) and promise the same bits whichever runs: no FMA, no
 * reassociation. A process cannot choose its version, so each CPU runs only its own — except under QEMU's
 * user-mode emulator, which presents the addon with another CPU. Here the same fixed inputs go through every
 * such loop on this CPU, on an emulated Haswell (AVX2, no AVX-512), on an emulated Nehalem (SSE4.2, no AVX)
 * and on QEMU's baseline x86-64 CPU (no SSE4.2 either: the CRC-32C's software path), and every output must be
 * identical. The emulated CPUs also run the addon's own kernels in their AVX2 and plain C builds (src/isa.h).
 *
 * Products that go through OpenBLAS differ by a few ulp between its kernels (kernelVariants.test.ts checks
 * them against float64 instead); attention is checked here through inputs whose products are exact.
 * .ci/run installs qemu-user; without it this test fails rather than passing untested.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { nativeChildPrelude } from "../../../helpers/nativeChild.js";

const QEMU = "/usr/bin/qemu-x86_64";

/** Emulated CPUs, with the OpenBLAS core the test asks for (the loader would read the host's /proc/cpuinfo) and the build of the addon's own kernels expected there. */
const EMULATED: { cpu: string; coreType: string; isa: string }[] = [
  { cpu: "Haswell", coreType: "Haswell", isa: "avx2" },
  { cpu: "Nehalem", coreType: "Nehalem", isa: "none" },
  { cpu: "qemu64", coreType: "Prescott", isa: "none" },
];

// Runs in the child: prints { isa, outputs: { name: sha256 of its output bytes } }.
const DIGESTS = `${nativeChildPrelude(7)}
const ints = (n, span) => Float32Array.from({ length: n }, () => Math.floor(next() * (2 * span + 1)) - span);
const outputs = {};
const keep = (name, ...arrays) => {
  const h = createHash("sha256");
  for (const t of arrays) h.update(typeof t === "number" ? Buffer.from(new Float64Array([t]).buffer) : Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  outputs[name] = h.digest("hex");
};
const n = 1003; // not a multiple of any vector width: every loop's tail runs too

const acc = new Float64Array(n), d1 = rand(n, 3), d2 = rand(n, 1e-3), base = rand(n);
a.foldDelta(acc, d1, 3.25, true);
a.foldDelta(acc, d2, 1.5, false);
const accW = new Float64Array(n);
a.foldWeights(accW, d1, base, 7, true);
a.foldWeights(accW, d2, base, 0.1, false);
const mean = new Float32Array(n);
a.finishMean(acc, base, 4.75, mean);
keep("foldDelta + finishMean", acc, mean);
keep("foldWeights", accW);
keep("sumOfSquares", a.sumOfSquares(d1), a.sumOfSquares(d1.subarray(5, 20)));

const images = Uint8Array.from({ length: 7 * 100 }, () => Math.floor(next() * 256));
const order = Uint32Array.from([6, 2, 0, 5, 1, 3, 4]);
const pixels = new Float32Array(5 * 100);
a.unitPixels(images, order, 1, 6, 100, pixels);
keep("unitPixels", pixels);

const x = rand(n, 5), y = new Float32Array(n);
a.tanh(x, y);
keep("tanh", y);
a.gelu(x, y);
const dy = rand(n), dx = new Float32Array(n);
a.geluGrad(dy, x, dx);
keep("gelu + geluGrad", y, dx);

const rows = 17, cols = 59, m = rand(rows * cols, 10), sums0 = new Float32Array(cols), sums1 = new Float32Array(rows);
a.sumRowsOrColumns(m, sums0, rows, cols, 0);
a.sumRowsOrColumns(m, sums1, rows, cols, 1);
keep("sumRowsOrColumns", sums0, sums1);

const w = rand(n), g = rand(n, 0.1), mo = rand(n, 0.01), v = rand(n, 0.001).map(Math.abs);
const w2 = new Float32Array(n), m2 = new Float32Array(n), v2 = new Float32Array(n);
a.adamUpdate(w, g, mo, v, w2, m2, v2, Float32Array.from([0.9, 0.1, 0.999, 0.001, 0.271, 0.00299, 1e-7, -0.001]));
keep("adamUpdate", w2, m2, v2);

const d = 37, ln = rand(rows * d, 3), gamma = rand(d), beta = rand(d), lnY = new Float32Array(rows * d);
a.layerNorm(ln, gamma, beta, lnY, rows, d, 1e-3);
const lnDy = rand(rows * d), lnDx = new Float32Array(rows * d), dGamma = new Float32Array(d), dBeta = new Float32Array(d);
a.layerNormGrad(lnDy, ln, gamma, lnDx, dGamma, dBeta, rows, d, 1e-3);
keep("layerNorm + layerNormGrad", lnY, lnDx, dGamma, dBeta);

for (const [mode, act] of [[0, 1], [1, 2], [2, 3], [3, 4], [2, 5], [2, 6], [2, 0]]) {
  const yb = rand(rows * cols, 4), bias = rand(mode === 3 ? rows * cols : mode === 2 ? cols : 1), prelu = rand(cols, 0.3);
  a.biasActivation(yb, rows, cols, mode === 0 ? null : bias, mode, act, 0.2, act === 5 ? prelu : null, act === 5 ? 2 : 0);
  keep("biasActivation " + mode + "/" + act, yb);
}

// Pooling: 2x2 stride 2 (disjoint windows) and 3x3 stride 2 with padding (overlapping).
for (const geo of [[2, 9, 8, 5, 2, 2, 2, 2, 0, 0, 4, 4], [2, 9, 8, 5, 3, 3, 2, 2, 1, 1, 5, 4]]) {
  const [N, H, W, C, , , , , , , OH, OW] = geo;
  const px = rand(N * H * W * C), py = new Float32Array(N * OH * OW * C), pdy = rand(py.length), pdx = new Float32Array(px.length);
  a.maxPool(px, py, geo);
  a.maxPoolGrad(px, pdy, pdx, geo);
  keep("maxPool + maxPoolGrad " + geo.slice(4, 6).join("x"), py, pdx);
}

// Attention's softmax (and the scaling before it): integer q and k make every score exact in any summation order.
const [batch, tokens, heads, hd] = [2, 13, 2, 8];
const q = ints(batch * tokens * heads * hd, 2), k = ints(q.length, 2), vv = rand(q.length);
const out = new Float32Array(q.length), probs = new Float32Array(batch * heads * tokens * tokens);
a.attention(q, k, vv, out, probs, batch, tokens, heads, 1 / Math.sqrt(hd));
keep("attention softmax", probs);

// The conv block's backward (conv_pool.cc SparseBackward: no sgemm, whose kernels differ by CPU); 16 channels,
// so that its vector loops run too, and about half the pooled values passing the ReLU.
{
  const geo = [2, 9, 8, 16, 3, 3, 7, 1, 1, 1, 1, 1, 1, 9, 8], pooled = 2 * 4 * 4 * 7;
  const cx = rand(2 * 9 * 8 * 16), cw = rand(3 * 3 * 16 * 7), cy = rand(pooled), cdy = rand(pooled);
  const carg = Int32Array.from({ length: pooled }, () => Math.floor(next() * 4));
  const cdw = new Float32Array(cw.length), cdb = new Float32Array(7), cdx = new Float32Array(cx.length);
  a.convPoolGrad(cdy, cx, cw, cy, carg, cdw, cdb, cdx, geo);
  keep("convPoolGrad (sparse)", cdw, cdb, cdx);
}

const bytes = Uint8Array.from({ length: 50_000 }, () => Math.floor(next() * 256)), copy = new Uint8Array(bytes.length);
keep("crc32c + copyCrc32c", a.crc32c(bytes.subarray(3), 0), a.copyCrc32c(copy, bytes, 12345), copy);

console.log(JSON.stringify({ isa: a.info().isa, outputs }));
`;

interface Digests {
  isa: string;
  outputs: Record<string, string>;
}

async function digests(command: string, args: string[], env: Record<string, string>): Promise<Digests> {
  const { stdout } = await promisify(execFile)(command, [...args, "--input-type=module", "-e", DIGESTS], {
    env: { ...process.env, ...env },
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Digests;
}

// Target clones are an x86-64 build (elsewhere each loop is compiled once): nothing to compare on other CPUs.
describe.runIf(process.arch === "x64")("the addon's loops give the same bits on every CPU they were compiled for", () => {
  let here: Promise<Digests> | undefined; // this CPU's, computed once for all the emulated ones

  it("qemu-user is installed (.ci/run installs it)", () => {
    expect(existsSync(QEMU), `${QEMU} is missing: apt-get install qemu-user`).toBe(true);
  });

  it.each(EMULATED)("on an emulated $cpu (own kernels: $isa)", async ({ cpu, coreType, isa }) => {
    const expected = await (here ??= digests(process.execPath, [], {}));
    const emulated = await digests(QEMU, ["-cpu", cpu, process.execPath], { OPENBLAS_CORETYPE: coreType });
    expect(emulated.isa).toBe(isa);
    expect(Object.keys(emulated.outputs)).toEqual(Object.keys(expected.outputs));
    for (const [name, digest] of Object.entries(expected.outputs)) expect(emulated.outputs[name], name).toBe(digest);
  }, 300_000);
});
