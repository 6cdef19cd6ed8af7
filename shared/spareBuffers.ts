/**
 * Model-sized memory kept for reuse (a coordinator's upload slots, a client's downloads): a fresh buffer
 * costs ~1 ms per MB in page faults and leaves garbage for the collector.
 */

/** Takes the smallest of `spares` holding at least `bytes` bytes out of the list, or returns a new buffer. */
export function takeSpare(spares: ArrayBuffer[], bytes: number): ArrayBuffer {
  let best = -1;
  spares.forEach((s, i) => {
    if (s.byteLength >= bytes && (best < 0 || s.byteLength < spares[best]!.byteLength)) best = i;
  });
  return best >= 0 ? spares.splice(best, 1)[0]! : new ArrayBuffer(bytes);
}
