/** A retired model version's memory, and a rounded download's assembly buffer, are reused only when nothing current lives in them. */
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

  it("cycles an assembly buffer and two decode regions for rounded downloads: no new memory after the second", () => {
    const b = new DownloadBuffers();
    const elements = 10; // float16 on the wire: 20 bytes, decoded into 40
    const round = () => {
      const assembly = b.take(2 * elements);
      const decoded = download(new Uint8Array(b.space(elements).buffer), [6, 4]);
      return { assembly: assembly.buffer, decoded };
    };
    const seen = new Set<ArrayBufferLike>();
    let previous: Float32Array[] = [];
    for (let r = 0; r < 6; r++) {
      const { assembly, decoded } = round();
      expect(decoded[0].buffer).not.toBe(assembly); // decoded elsewhere, so the assembly buffer is free again at once
      seen.add(assembly).add(decoded[0].buffer);
      b.retire(previous, decoded);
      previous = decoded;
    }
    expect(seen.size).toBe(3);
  });

  it("never hands out memory the current version lives in", () => {
    const b = new DownloadBuffers();
    let previous: Float32Array[] = [];
    const live = new Set<ArrayBufferLike>();
    for (let r = 0; r < 8; r++) {
      const rounded = r % 3 === 2; // float32 and rounded downloads mixed
      const assembly = b.take(rounded ? 20 : 40);
      expect(live.has(assembly.buffer)).toBe(false);
      const current = rounded ? download(new Uint8Array(b.space(10).buffer), [6, 4]) : download(assembly, [6, 4]);
      for (const t of current) expect(live.has(t.buffer)).toBe(false);
      b.retire(previous, current);
      live.clear();
      current.forEach((t) => live.add(t.buffer));
      previous = current;
    }
  });
});
