// Child process of streamingMemory.test.ts (plain JavaScript on the compiled dist/ tree, which the tests'
// global setup builds): trains one epoch over an image folder, either loaded into memory or streamed, and
// prints the process's resident-memory growth over that epoch as one JSON line.
//
//   node streamingMemory.mjs '{"mode":"memory"|"stream","dir":…,"height":…,"width":…,"channels":…,
//                              "batchSize":…,"classes":[…],"decodeThreads"?:…,"verify"?:…}'
import * as tfl from "@tensorflow/tfjs-layers";

const o = JSON.parse(process.argv[2]);
const dist = new URL("../../../dist/", import.meta.url);
const { initBackend } = await import(new URL("shared/backends/selectBackend.js", dist).href);
const { trainLocally } = await import(new URL("client/training/localTrainer.js", dist).href);
const { loadImageFolder } = await import(new URL("client/data/imageFolder.js", dist).href);
const { openImageFolder } = await import(new URL("client/data/imageFolderSource.js", dist).href);

await initBackend("wasm");
const shape = { height: o.height, width: o.width, channels: o.channels };
const classes = o.classes;
// A small model: the point is the input pipeline's memory, not the model's.
const model = tfl.sequential({
  layers: [
    tfl.layers.averagePooling2d({ poolSize: 8, inputShape: [o.height, o.width, o.channels] }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: classes.length, activation: "softmax" }),
  ],
});
const config = { epochs: 1, batchSize: o.batchSize, learningRate: 0.01, optimizer: "adam", proximalMu: 0, seed: 1 };

// Warm up on a throwaway batch of the same shape, so that kernels, the wasm heap for one batch's tensors
// and the optimizer's code paths exist before the baseline is taken.
const size = o.height * o.width * o.channels;
const warm = {
  images: new Uint8Array(3 * o.batchSize * size),
  labels: new Uint8Array(3 * o.batchSize),
  count: 3 * o.batchSize,
  ...shape,
  classNames: classes,
};
await trainLocally(model, warm, config);
global.gc?.();
await new Promise((r) => setTimeout(r, 50));

const rss = () => process.memoryUsage.rss();
const baseline = rss();
// FEDFUSION_MEMDEBUG=1: the V8 heap / external breakdown at the start and end, on stderr.
const breakdown = (when) => {
  if (!process.env.FEDFUSION_MEMDEBUG) return;
  const mb = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 2 ** 20)]));
  console.error(when, JSON.stringify(mb));
};
breakdown("baseline (MB)");
let sampledPeak = baseline;
const timer = setInterval(() => {
  sampledPeak = Math.max(sampledPeak, rss());
}, 2);

const started = Date.now();
let data;
let decodeThreads = 0;
if (o.mode === "memory") {
  data = (await loadImageFolder(o.dir, { ...shape, classNames: classes })).dataset;
} else {
  const { source } = await openImageFolder(o.dir, { ...shape, classNames: classes, decodeThreads: o.decodeThreads, verify: o.verify ?? false });
  decodeThreads = source.decodeThreads;
  data = source;
}
const result = await trainLocally(model, data, config);
clearInterval(timer);
sampledPeak = Math.max(sampledPeak, rss());
// getrusage's peak catches what sampling between event-loop turns misses.
const maxRss = process.resourceUsage().maxRSS * 1024;
breakdown("end (MB)");
if (o.mode === "stream") await data.close();

console.log(
  JSON.stringify({
    mode: o.mode,
    examples: result.examples,
    steps: result.steps,
    decodeThreads,
    baseline,
    peak: Math.max(sampledPeak, maxRss),
    growth: Math.max(sampledPeak, maxRss) - baseline,
    millis: Date.now() - started,
  }),
);
