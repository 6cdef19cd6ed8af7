/**
 * What training and evaluation read examples from: either a dataset held in memory (an ImageDataset) or a
 * source that decodes its images on demand, batch by batch (a folder of image files, or a dataset file
 * read at offsets), so that a site's shard can be larger than the process's memory.
 *
 * Both kinds hand out batches as a BatchView: the examples order[start..end) of some ImageDataset. For an
 * in-memory dataset that is the whole dataset and the caller's own order (no copying); for a streaming
 * source it is a small dataset holding just the decoded batch. makeBatch turns either into tensors, so
 * the float conversion (the hot path) is the same code for both.
 */
import { subset, type ImageDataset } from "./imageDataset.js";

/** Images order[start..end) of `data`, the examples of one batch in training order. */
export interface BatchView {
  readonly data: ImageDataset;
  readonly order: ArrayLike<number>;
  readonly start: number;
  readonly end: number;
}

export interface BatchOptions {
  /**
   * Streaming sources: batches decoded ahead of the one being trained on (default 2). Memory holds at most
   * prefetch + 1 decoded batches, whatever the size of the shard.
   */
  prefetch?: number;
}

export interface TrainingSource {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly classNames: readonly string[];
  /** Every example's class index. One byte each, so always in memory, even when the images are not. */
  readonly labels: Uint8Array;
  /** true when images are read and decoded per batch rather than held in memory. */
  readonly streaming: boolean;
  /**
   * The examples order[0], order[1], … in consecutive batches of batchSize (the last may be smaller), in
   * that order. A view is valid until the next one is requested. A streaming source drops an example whose
   * file turns out unreadable from its batch (warning once), so a view can hold fewer than batchSize.
   */
  batches(order: ArrayLike<number>, batchSize: number, opts?: BatchOptions): AsyncIterable<BatchView>;
  /** The examples at `indices`, in that order, as a source of the same kind (e.g. a validation split). */
  subset(indices: ArrayLike<number>): TrainingSource;
  /** Releases what the source holds open (decoding threads); it may be used again afterwards. */
  close(): Promise<void>;
}

export function isTrainingSource(d: ImageDataset | TrainingSource): d is TrainingSource {
  return typeof (d as Partial<TrainingSource>).batches === "function";
}

/** An ImageDataset as a TrainingSource: batches are views into it, no copies. */
export function inMemorySource(d: ImageDataset): TrainingSource & { readonly dataset: ImageDataset } {
  return {
    dataset: d,
    count: d.count,
    height: d.height,
    width: d.width,
    channels: d.channels,
    classNames: d.classNames,
    labels: d.labels.subarray(0, d.count),
    streaming: false,
    batches: (order, batchSize) => inMemoryBatches(d, order, batchSize),
    subset: (indices) => inMemorySource(subset(d, indices)),
    close: async () => undefined,
  };
}

export function toTrainingSource(d: ImageDataset | TrainingSource): TrainingSource {
  return isTrainingSource(d) ? d : inMemorySource(d);
}

function inMemoryBatches(d: ImageDataset, order: ArrayLike<number>, batchSize: number): AsyncIterable<BatchView> {
  checkBatchSize(batchSize);
  return {
    [Symbol.asyncIterator]() {
      let start = 0;
      return {
        next: async () => {
          if (start >= order.length) return { done: true, value: undefined };
          const end = Math.min(start + batchSize, order.length);
          const value = { data: d, order, start, end };
          start = end;
          return { done: false, value };
        },
      };
    },
  };
}

export function checkBatchSize(batchSize: number): void {
  if (!(Number.isSafeInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size must be a whole number ≥ 1, got ${batchSize}`);
}

/**
 * Runs `produce(0)`, `produce(1)`, … `produce(n-1)` with up to `ahead` of them started before the one the
 * consumer is on, yielding results in index order. When the consumer stops early the producers already
 * started are awaited (their failures swallowed), so no work outlives the iteration.
 */
export async function* prefetched<T>(n: number, ahead: number, produce: (i: number) => Promise<T>): AsyncGenerator<T> {
  const limit = Math.max(0, Math.floor(ahead));
  const pending: Promise<T>[] = [];
  let next = 0;
  const start = () => {
    const p = produce(next++);
    // Marked handled now: a failure is reported when its turn comes, not as an unhandled rejection.
    p.catch(() => undefined);
    pending.push(p);
  };
  try {
    // Before the first batch nothing is being trained on, so one more may be in flight.
    while (pending.length < limit + 1 && next < n) start();
    for (;;) {
      if (pending.length === 0) {
        if (next >= n) return;
        start();
      }
      const value = await pending.shift()!;
      while (pending.length < limit && next < n) start();
      yield value;
    }
  } finally {
    await Promise.allSettled(pending);
  }
}
