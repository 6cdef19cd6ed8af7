import { takeSpare } from "../../shared/spareBuffers.js";

/**
 * Where a client assembles each model download, and decodes it when it travels rounded (float16, int8): in
 * memory of earlier versions once nothing current lives in it, so the same few buffers cycle instead of fresh
 * model-sized ones per download. A fresh buffer costs ~1 ms per MB in page faults (the kernel zeroes every page
 * on first touch) — several times the copy and CRC-32C that fill it (~0.13 ms/MB) — and leaves garbage for the
 * collector.
 *
 * A float32 download's weights are views of its assembly buffer: two buffers alternate. A rounded one is
 * decoded into a region of its own, and its assembly buffer is free as soon as it is decoded: an assembly
 * buffer and two decode regions cycle.
 *
 * Lifetime rule: a download's weights stay valid until they are retired *and* the download after the next
 * one starts. The client agent retires a version only once it holds a newer one and writes only that newer
 * one into its model, so nothing still reads a buffer when it is reused. (The cpu backend's tensors alias the
 * arrays they were made from, hence the care.)
 */
export class DownloadBuffers {
  /** At most two: the retired version's memory, and a rounded download's assembly buffer. */
  private spares: ArrayBuffer[] = [];
  /** The assembly buffer handed out last, until retire() looks at whether its download still uses it. */
  private assembling: ArrayBuffer | null = null;

  /** For CoordinatorConnection.downloadModel: where to assemble `bytes` bytes. */
  readonly take = (bytes: number): Uint8Array => {
    const b = takeSpare(this.spares, bytes); // taken out: a failed download must not leave it to be handed out twice
    this.assembling = b;
    return new Uint8Array(b, 0, bytes);
  };

  /** For CoordinatorConnection.downloadModel: where to decode a rounded download's `elements` values. */
  readonly space = (elements: number): Float32Array => new Float32Array(takeSpare(this.spares, 4 * elements), 0, elements);

  /**
   * `previous` was replaced by `current` and is no longer read: its memory becomes a spare, unless `current`
   * still uses it (a partial download keeps the frozen layers) or it spans several buffers. So does the last
   * assembly buffer once `current` is not a view of it (a rounded download, decoded elsewhere).
   */
  retire(previous: readonly Float32Array[], current: readonly Float32Array[]): void {
    const inUse = (b: ArrayBufferLike) => current.some((c) => c.buffer === b);
    const buffer = previous[0]?.buffer;
    const free: ArrayBufferLike[] = [];
    if (buffer && !previous.some((p) => p.buffer !== buffer) && !inUse(buffer)) free.push(buffer);
    if (this.assembling && !inUse(this.assembling) && !free.includes(this.assembling)) free.push(this.assembling);
    this.assembling = null;
    for (const b of free) if (b instanceof ArrayBuffer) this.spares.push(b);
    this.spares = this.spares.slice(-2);
  }
}
