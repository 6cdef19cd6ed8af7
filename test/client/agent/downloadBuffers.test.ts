/** A retired model version's buffer is reused for the next download only when nothing current lives in it. */
import { describe, expect, it } from "vitest";
import { DownloadBuffers } from "../../../client/agent/downloadBuffers.js";

/** Tensors of `sizes` floats laid out one after another in one buffer, as a download returns them. */
function download(buffer: Uint8Array, sizes: number[]): Float32Array[] {
  let offset = 0;
  return sizes.map((n) => {
    const t = new Float32Array(buffer.buffer, offset, n);
    offset += 4 * n;
    return t;
  });
}

describe("DownloadBuffers", () => {
  it("hands out new buffers until a version is retired, then the retired one, once", () => {
    const b = new DownloadBuffers();
    const v1 = download(b.take(40), [6, 4]);
    const v2 = download(b.take(40), [6, 4]);
    expect(v2[0].buffer).not.toBe(v1[0].buffer);
    b.retire(v1, v2);
    expect(b.take(40).buffer).toBe(v1[0].buffer);
    // Taken means gone: a download that failed half-way must not leave it to be handed out again.
    expect(b.take(40).buffer).not.toBe(v1[0].buffer);
  });

  it("keeps a buffer the current version still uses (a partial download keeps the frozen layers)", () => {
    const b = new DownloadBuffers();
    const full = download(b.take(40), [6, 4]);
    const federated = download(b.take(16), [4]);
    const merged = [full[0], federated[0]];
    b.retire(full, merged);
    expect(b.take(40).buffer).not.toBe(full[0].buffer);
  });

  it("keeps weights spread over several buffers, and a spare too small for the next download", () => {
    const b = new DownloadBuffers();
    const spread = [new Float32Array(4), new Float32Array(4)];
    b.retire(spread, [new Float32Array(4)]);
    const next = b.take(16).buffer;
    expect(spread.map((t) => t.buffer)).not.toContain(next);
    const small = [new Float32Array(4)];
    b.retire(small, [new Float32Array(4)]);
    const bigger = b.take(32);
    expect(bigger.buffer).not.toBe(small[0].buffer);
    expect(bigger.byteLength).toBe(32);
  });
});
