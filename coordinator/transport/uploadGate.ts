/**
 * Bounds how many uploads are assembled at once. Each one holds a model-sized buffer until it is decoded
 * and folded into the aggregate, so without a bound a round of K clients uploading together would need
 * K model copies. Waiting uploads are paused, which lets HTTP/2 flow control hold the client back.
 *
 * A slot also lends its upload the assembly buffer: buffers come back with the slot (unless the upload's
 * data is still referenced, e.g. kept by a non-streaming strategy) and serve the next uploads, so a
 * round allocates no model-sized buffer per client: no page faults, no garbage waiting for the collector.
 */
import { Slots } from "./slots.js";

export interface UploadSlot {
  /** A buffer of `bytes` bytes, reused from an earlier upload when one is large enough. */
  buffer(bytes: number): Uint8Array;
  /** Frees the slot. `reuse`: nothing references the buffer any more, so later uploads may overwrite it. */
  release(reuse: boolean): void;
}

export class UploadGate {
  private readonly slots: Slots;
  private readonly spare: ArrayBuffer[] = [];

  constructor(size: number) {
    this.slots = new Slots(size);
  }

  /** Resolves with a slot once one is free. */
  async acquire(): Promise<UploadSlot> {
    await this.slots.acquire();
    let released = false;
    let lent: ArrayBuffer | null = null;
    return {
      buffer: (bytes) => {
        if (lent) this.giveBack(lent);
        lent = this.take(bytes);
        return new Uint8Array(lent, 0, bytes);
      },
      release: (reuse) => {
        if (released) return;
        released = true;
        if (lent && reuse) this.giveBack(lent);
        lent = null;
        this.slots.release();
      },
    };
  }

  get inUse(): number {
    return this.slots.inUse;
  }

  /** The smallest spare buffer that fits, else a new one. */
  private take(bytes: number): ArrayBuffer {
    let best = -1;
    this.spare.forEach((b, i) => {
      if (b.byteLength >= bytes && (best < 0 || b.byteLength < this.spare[best].byteLength)) best = i;
    });
    return best >= 0 ? this.spare.splice(best, 1)[0] : new ArrayBuffer(bytes);
  }

  /** Keeps at most one buffer per slot: the largest ones (a smaller model's leftovers are dropped). */
  private giveBack(b: ArrayBuffer): void {
    this.spare.push(b);
    this.spare.sort((x, y) => y.byteLength - x.byteLength);
    this.spare.length = Math.min(this.spare.length, this.slots.size);
  }
}
