/** A decode thread of decodePool.ts: decodes the files of each job it is sent and posts the pixels back. */
import { parentPort } from "node:worker_threads";
import { decodeFiles, type WorkerAnswer, type WorkerJob } from "./decodePool.js";

const port = parentPort;
if (!port) throw new Error("decodeWorker.js runs as a worker thread of decodePool.js");

port.on("message", (job: WorkerJob) => {
  decodeFiles(job.paths, job.shape, job.keep, job.concurrency).then(
    (r) => {
      const answer: WorkerAnswer = { id: job.id, ok: true, images: r.images, reasons: r.reasons };
      // The pixels are moved, not copied, to the main thread.
      port.postMessage(answer, [r.images.buffer as ArrayBuffer]);
    },
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({ id: job.id, ok: false, message: err.message, stack: err.stack } satisfies WorkerAnswer);
    },
  );
});
