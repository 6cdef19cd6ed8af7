/**
 * A counting semaphore: at most `size` holders at once; the others wait in arrival order, and a freed
 * slot passes straight to the longest waiter. The transfer gates (uploads, downloads) are built on it.
 */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`slots: size ${size} is not a positive integer`);
  }

  /** Resolves once the caller holds a slot. */
  acquire(): Promise<void> {
    if (this.active < this.size) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Frees a slot the caller holds. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }
}
