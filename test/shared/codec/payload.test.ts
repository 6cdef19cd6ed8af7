import { describe, expect, it } from "vitest";
import { chunkPayload, chunkPieces, decodeEncodedPayload, decodeRegions, encodePayload, MAX_CHUNK_BYTES, PayloadAssembler, PayloadError, type NamedTensor } from "../../../shared/codec/payload.js";
import { Encoding } from "../../../shared/generated/fedfusion/v1/federation.js";

function tensors(): NamedTensor[] {
  const a = new Float32Array(3 * 5).map((_, i) => i * 0.5 - 3);
  const b = new Float32Array(300_000).map((_, i) => Math.sin(i)); // 1.2 MB: spans chunks
  const c = new Float32Array([Number.MAX_VALUE, -0, 1e-30, 7]);
  return [
    { name: "conv1/kernel", shape: [3, 5], values: a },
    { name: "dense/kernel", shape: [1000, 300], values: b },
    { name: "dense/bias", shape: [4], values: c },
  ];
}

const specs = (ts: NamedTensor[]) => ts.map(({ name, shape }) => ({ name, shape }));

function roundTrip(ts: NamedTensor[], chunkSize?: number) {
  const { manifest, parts } = encodePayload(ts);
  const assembler = new PayloadAssembler(manifest, specs(ts), 1 << 30);
  const chunks = [...chunkPayload(parts, chunkSize)];
  for (const c of chunks) assembler.push(c);
  return { out: assembler.finish(), chunks, manifest };
}

describe("weights payload codec", () => {
  it("round-trips named tensors through 1 MiB chunks bit for bit", () => {
    const ts = tensors();
    const { out, chunks, manifest } = roundTrip(ts);
    expect(manifest.totalBytes).toBe((15 + 300_000 + 4) * 4);
    expect(chunks.every((c) => c.byteLength <= MAX_CHUNK_BYTES)).toBe(true);
    expect(chunks.length).toBe(Math.ceil(manifest.totalBytes / MAX_CHUNK_BYTES));
    expect(out.map((t) => t.name)).toEqual(ts.map((t) => t.name));
    out.forEach((t, i) => {
      expect(t.shape).toEqual(ts[i].shape);
      expect(Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength).equals(Buffer.from(ts[i].values.buffer))).toBe(true);
    });
  });

  it("handles chunk sizes that split tensors at odd offsets", () => {
    for (const size of [1, 7, 60, 4096]) {
      const small = tensors().filter((t) => t.values.length < 100);
      const { out } = roundTrip(small, size);
      expect(Array.from(out[1].values)).toEqual(Array.from(small[1].values));
    }
  });

  it("chunkPieces gives each chunk as views of the parts it covers; chunkPayload joins them", () => {
    const { parts } = encodePayload(tensors());
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    for (const size of [7, 4096, 65_536, MAX_CHUNK_BYTES]) {
      const pieces = [...chunkPieces(parts, size)];
      const chunks = [...chunkPayload(parts, size)];
      expect(pieces).toHaveLength(Math.ceil(total / size));
      pieces.forEach((ps, i) => {
        const joined = Buffer.concat(ps);
        expect(joined.byteLength).toBe(i < pieces.length - 1 ? size : total - size * (pieces.length - 1));
        expect(joined.equals(chunks[i])).toBe(true);
        for (const piece of ps) expect(parts.some((p) => p.buffer === piece.buffer)).toBe(true); // views, not copies
      });
    }
    expect([...chunkPieces([])]).toEqual([]);
  });

  it("rejects a payload whose bytes do not match the checksum", () => {
    const ts = tensors();
    const { manifest, parts } = encodePayload(ts);
    const a = new PayloadAssembler(manifest, specs(ts), 1 << 30);
    const chunks = [...chunkPayload(parts)].map((c) => Uint8Array.from(c));
    chunks[1][10] ^= 1;
    chunks.forEach((c) => a.push(c));
    expect(() => a.finish()).toThrow(/CRC-32C does not match its manifest/);
  });

  it("refuses a manifest without a CRC-32C (an older sender's SHA-256 manifest) before receiving any bytes", () => {
    const ts = tensors();
    const { manifest } = encodePayload(ts);
    expect(() => new PayloadAssembler({ ...manifest, crc32c: undefined }, specs(ts), 1 << 30)).toThrow(/manifest has no CRC-32C/);
  });

  it("rejects truncated and overlong payloads", () => {
    const ts = tensors();
    const { manifest, parts } = encodePayload(ts);
    const chunks = [...chunkPayload(parts)];
    const short = new PayloadAssembler(manifest, specs(ts), 1 << 30);
    chunks.slice(0, -1).forEach((c) => short.push(c));
    expect(() => short.finish()).toThrow(/ended after \d+ of \d+ bytes/);
    const long = new PayloadAssembler(manifest, specs(ts), 1 << 30);
    chunks.forEach((c) => long.push(c));
    expect(() => long.push(new Uint8Array(4))).toThrow(PayloadError);
  });

  it("refuses a manifest that does not fit the model before receiving any bytes", () => {
    const ts = tensors();
    const { manifest } = encodePayload(ts);
    const wrongShape = specs(ts).map((s, i) => (i === 0 ? { ...s, shape: [5, 3] } : s));
    expect(() => new PayloadAssembler(manifest, wrongShape, 1 << 30)).toThrow(/tensor 0 is conv1\/kernel \[3,5\], the model expects conv1\/kernel \[5,3\]/);
    expect(() => new PayloadAssembler(manifest, specs(ts).slice(1), 1 << 30)).toThrow(/payload has 3 tensors, the model has 2/);
    expect(() => new PayloadAssembler(manifest, specs(ts), 1000)).toThrow(/exceeds the limit of 1000/);
    const lying = { ...manifest, totalBytes: manifest.totalBytes + 4 };
    expect(() => new PayloadAssembler(lying, specs(ts), 1 << 30)).toThrow(/disagrees/);
  });
});

describe("decoding lossy payloads into lent space", () => {
  // Values every lossy encoding takes (int8 needs finite ones).
  const finite = () => tensors().map((t) => ({ ...t, values: t.values.map((v) => (Number.isFinite(v) ? v : 1e30)) }));
  const assemble = (ts: NamedTensor[], encoding: Encoding, output?: (n: number) => Float32Array) => {
    const { manifest, parts } = encodePayload(ts, encoding, { topkFraction: 0.01 });
    const assembler = new PayloadAssembler(manifest, specs(ts), 1 << 30, undefined, output);
    for (const c of chunkPayload(parts)) assembler.push(c);
    return { out: assembler.finish(), expected: decodeEncodedPayload({ manifest, parts }) };
  };

  it.each([
    ["float16", Encoding.ENCODING_FLOAT16],
    ["int8", Encoding.ENCODING_INT8],
    ["top-k", Encoding.ENCODING_TOPK],
  ] as const)("decodes %s tensors into consecutive parts of one region, exactly as into new arrays", (_, encoding) => {
    const ts = finite();
    const total = ts.reduce((n, t) => n + t.values.length, 0);
    const region = new Float32Array(total + 5).fill(42); // stale values: top-k must clear them
    let taken = 0;
    const { out, expected } = assemble(ts, encoding, decodeRegions(() => (taken++, region)));
    expect(taken).toBe(1);
    let offset = 0;
    out.forEach((t, i) => {
      expect(t.values.buffer).toBe(region.buffer);
      expect(t.values.byteOffset).toBe(4 * offset);
      expect(Array.from(t.values)).toEqual(Array.from(expected[i].values));
      offset += t.values.length;
    });
  });

  it("never takes the region for a float32 payload (its tensors are views onto the assembled bytes)", () => {
    let taken = 0;
    const { out } = assemble(tensors(), Encoding.ENCODING_FLOAT32, decodeRegions(() => (taken++, new Float32Array(0))));
    expect(taken).toBe(0);
    expect(out).toHaveLength(3);
  });

  it("refuses a region too small for the payload", () => {
    expect(() => assemble(finite(), Encoding.ENCODING_INT8, decodeRegions(() => new Float32Array(100)))).toThrow("decode space of 100 values is full");
  });
});
