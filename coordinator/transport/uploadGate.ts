/**
 * Bounds how many uploads are assembled at once. Each one holds a model-sized buffer until it is decoded
 * and folded into the aggregate, so without a bound a round of K clients uploading together would need
 * K model copies. Waiting uploads are paused and read nothing ahead, so HTTP/2 flow control holds their
 * clients back after 64 KiB (receiveWindow.ts widens a client's window only once its upload has a slot).
 *
 * A slot also lends its upload memory: the assembly buffer, and for a lossy encoding (float16, int8, top-k)
 * the space its tensors are decoded into. Both come back with the slot (unless the upload's data is still
 * referenced, e.g. kept by a non-streaming strategy) and serve the next uploads, so a round allocates no
 * model-sized memory per client: no page faults, no garbage waiting for the collector.
 */
import { takeSpare } from "../../shared/spareBuffers.js";
import { Slots } from "./slots.js";

export interface UploadSlot {
  /** A buffer of `bytes` bytes, reused from an earlier upload when one is large enough. */
  buffer(bytes: number): Uint8Array;
  /** Room for `elements` float32 values (a lossy upload's decoded tensors), reused the same way. */
  decodeSpace(elements: number): Float32Array;
  /** Frees the slot. `reuse`: nothing references its memory any more, so later uploads may overwrite it. */
  release(reuse: boolean): void;
}

/** Memory a slot may lend at once: its assembly buffer and its decode space. */
const LOANS_PER_SLOT = 2;

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
    const lent = new Map<"buffer" | "decode", ArrayBuffer>();
    const lend = (what: "buffer" | "decode", bytes: number): ArrayBuffer => {
      const earlier = lent.get(what);
      if (earlier) this.giveBack(earlier);
      const b = takeSpare(this.spare, bytes);
      lent.set(what, b);
      return b;
    };
    return {
      buffer: (bytes) => new Uint8Array(lend("buffer", bytes), 0, bytes),
      decodeSpace: (elements) => new Float32Array(lend("decode", 4 * elements), 0, elements),
      release: (reuse) => {
        if (released) return;
        released = true;
        if (reuse) for (const b of lent.values()) this.giveBack(b);
        lent.clear();
        this.slots.release();
      },
    };
  }

  get inUse(): number {
    return this.slots.inUse;
  }

  /** Keeps at most what the slots can lend at once: the largest buffers (a smaller model's leftovers are dropped). */
  private giveBack(b: ArrayBuffer): void {
    this.spare.push(b);
    this.spare.sort((x, y) => y.byteLength - x.byteLength);
    this.spare.length = Math.min(this.spare.length, LOANS_PER_SLOT * this.slots.size);
  }
}
