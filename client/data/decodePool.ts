/**
 * Reads and decodes batches of image files for streaming sources. Decoding PNG/JPEG/DICOM is plain
 * JavaScript, so on the main thread it would stop training while it runs; with worker threads a batch is
 * decoded on another core while the model trains on the previous one. Without workers (threads = 0, or
 * when running from TypeScript sources, where there is no compiled worker script) it decodes on the main
 * thread, interleaved with training through the event loop; the results are the same either way.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { workerScriptExists } from "../../shared/workerScript.js";
import type { ImageShape } from "./imageTransform.js";
import { decodeFileInto, forEachBounded } from "./imageFolder.js";

export interface DecodedFiles {
  /** paths.length images of the shape, in path order (zeros where a file failed); empty when not kept. */
  images: Uint8Array;
  /** For each path: undefined when decoded, else why the file must be skipped. */
  reasons: (string | undefined)[];
}

export interface DecodeOptions {
  /** false: only check that each file decodes (verification), without returning the pixels. */
  keep?: boolean;
}

export interface BatchDecoder {
  /** Threads decoding besides the main one (0: the main thread decodes). */
  readonly threads: number;
  decode(paths: readonly string[], shape: ImageShape, opts?: DecodeOptions): Promise<DecodedFiles>;
  /** Stops the worker threads; a later decode starts them again. */
  close(): Promise<void>;
}

export interface DecoderOptions {
  /** Worker threads (default: cores − 1, between 1 and 4; 0 = decode on the main thread). */
  threads?: number;
  /** Files read at once per thread, to overlap disk reads (default 8). */
  concurrency?: number;
}

/** The compiled worker script beside this module; absent when running from TypeScript sources. */
const WORKER_URL = new URL("./decodeWorker.js", import.meta.url);

export function workerScriptAvailable(): boolean {
  return workerScriptExists(WORKER_URL);
}

export function defaultDecodeThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export function createDecoder(opts: DecoderOptions = {}): BatchDecoder {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const threads = opts.threads ?? defaultDecodeThreads();
  if (!(Number.isSafeInteger(threads) && threads >= 0)) throw new RangeError(`decode threads must be a whole number ≥ 0, got ${threads}`);
  if (threads === 0 || !workerScriptAvailable()) return new InProcessDecoder(concurrency);
  return new WorkerDecoder(threads, concurrency);
}

/** Decodes on the calling thread; the reads of up to `concurrency` files overlap. */
export async function decodeFiles(paths: readonly string[], shape: ImageShape, keep: boolean, concurrency: number): Promise<DecodedFiles> {
  const size = shape.height * shape.width * shape.channels;
  // When not keeping, one image's worth of scratch space is reused: only success or failure is wanted.
  const images = new Uint8Array(keep ? paths.length * size : size);
  const reasons: (string | undefined)[] = new Array(paths.length).fill(undefined);
  await forEachBounded(paths.length, concurrency, async (i) => {
    reasons[i] = await decodeFileInto(paths[i], shape, images, keep ? i * size : 0);
  });
  return { images: keep ? images : new Uint8Array(0), reasons };
}

class InProcessDecoder implements BatchDecoder {
  readonly threads = 0;
  constructor(private readonly concurrency: number) {}
  decode(paths: readonly string[], shape: ImageShape, opts: DecodeOptions = {}): Promise<DecodedFiles> {
    return decodeFiles(paths, shape, opts.keep ?? true, this.concurrency);
  }
  async close(): Promise<void> {}
}

/** A request to a decode worker, and its answer. */
export interface WorkerJob {
  id: number;
  paths: readonly string[];
  shape: ImageShape;
  keep: boolean;
  concurrency: number;
}
export type WorkerAnswer =
  | { id: number; ok: true; images: Uint8Array; reasons: (string | undefined)[] }
  | { id: number; ok: false; message: string; stack?: string };

interface Pending {
  resolve: (r: DecodedFiles) => void;
  reject: (e: Error) => void;
}

class DecodeThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  dead = false;

  constructor() {
    // A small young generation: a decode thread's garbage is mostly small objects (its pixels live in
    // ArrayBuffers outside the heap), and V8's default semi-spaces would add tens of MB of resident memory.
    this.worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    // Idle threads must not keep the process alive; a thread with work in flight does (see run).
    this.worker.unref();
    this.worker.on("message", (a: WorkerAnswer) => {
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (this.pending.size === 0) this.worker.unref();
      if (a.ok) p.resolve({ images: a.images, reasons: a.reasons });
      else p.reject(Object.assign(new Error(a.message), { stack: a.stack ?? a.message }));
    });
    const fail = (e: Error) => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`image decoding thread exited (code ${code})`)));
  }

  get load(): number {
    return this.pending.size;
  }

  run(job: Omit<WorkerJob, "id">): Promise<DecodedFiles> {
    const id = this.nextId++;
    return new Promise<DecodedFiles>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...job, id } satisfies WorkerJob);
    });
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

class WorkerDecoder implements BatchDecoder {
  private pool: DecodeThread[] = [];

  constructor(
    readonly threads: number,
    private readonly concurrency: number,
  ) {}

  async decode(paths: readonly string[], shape: ImageShape, opts: DecodeOptions = {}): Promise<DecodedFiles> {
    const keep = opts.keep ?? true;
    if (paths.length === 0) return { images: new Uint8Array(0), reasons: [] };
    this.pool = this.pool.filter((t) => !t.dead);
    while (this.pool.length < this.threads) this.pool.push(new DecodeThread());
    // A batch goes to the least busy thread; several batches in flight (prefetch) spread over the threads.
    const thread = this.pool.reduce((a, b) => (b.load < a.load ? b : a));
    const r = await thread.run({ paths, shape, keep, concurrency: this.concurrency });
    return { images: keep ? r.images : new Uint8Array(0), reasons: r.reasons };
  }

  async close(): Promise<void> {
    const threads = this.pool;
    this.pool = [];
    await Promise.all(threads.map((t) => t.terminate()));
  }
}
