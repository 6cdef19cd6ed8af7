/**
 * Where a client assembles each model download: in the previous version's buffer once nothing of the current
 * version lives in it, so two buffers alternate instead of a fresh one per download. A fresh model-sized
 * buffer costs ~1 ms per MB in page faults (the kernel zeroes every page on first touch) — several times the
 * copy and CRC-32C that fill it (~0.13 ms/MB).
 *
 * Lifetime rule: a download's weights stay valid until they are retired *and* the download after the next
 * one starts. The client agent retires a version only once it holds a newer one and writes only that newer
 * one into its model, so nothing still reads a buffer when it is reused. (The cpu backend's tensors alias the
 * arrays they were made from, hence the care.)
 */
export class DownloadBuffers {
  private spare: Uint8Array | null = null;

  /** For CoordinatorConnection.downloadModel: the spare buffer when it is large enough, else a new one. */
  readonly take = (bytes: number): Uint8Array => {
    const reuse = this.spare !== null && this.spare.byteLength >= bytes ? this.spare : null;
    this.spare = null; // a failed download leaves its buffer half-written: never hand it out twice
    return reuse ?? new Uint8Array(bytes);
  };

  /**
   * `previous` was replaced by `current` and is no longer read: its buffer becomes the spare, unless
   * `current` still uses part of it (a partial download keeps the frozen layers) or it spans several buffers.
   */
  retire(previous: readonly Float32Array[], current: readonly Float32Array[]): void {
    const buffer = previous[0]?.buffer;
    if (!buffer || previous.some((p) => p.buffer !== buffer) || current.some((c) => c.buffer === buffer)) return;
    this.spare = new Uint8Array(buffer);
  }
}
