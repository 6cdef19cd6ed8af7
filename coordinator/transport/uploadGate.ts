/**
 * Bounds how many uploads are assembled at once. Each one holds a model-sized buffer until it is decoded
 * and folded into the aggregate, so without a bound a round of K clients uploading together would need
 * K model copies. Waiting uploads are paused, which lets HTTP/2 flow control hold the client back.
 */
export class UploadGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly slots: number) {}

  /** Resolves with a release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.active >= this.slots) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.active--;
    };
  }

  get inUse(): number {
    return this.active;
  }
}
