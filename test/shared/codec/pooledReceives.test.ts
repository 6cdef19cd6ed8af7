/**
 * Received messages in reused memory (shared/codec/pooledReceives.ts): the replacement decoder frames
 * messages exactly as gRPC defines them however the bytes are split into DATA frames, and a big message's
 * memory is handed out again only after it was released. That transfers stay exact through real servers
 * with the pool in use is checked by the transport tests (largeModelTransfer.test.ts and others) and below.
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { installPooledReceives, POOLED_MESSAGE_BYTES, releaseReceived, spareReceiveBytes } from "../../../shared/codec/pooledReceives.js";

interface Decoder {
  write(data: Buffer): Buffer[];
}
const { StreamDecoder } = createRequire(import.meta.url)("@grpc/grpc-js/build/src/stream-decoder.js") as {
  StreamDecoder: new (maxReadMessageLength: number) => Decoder;
};

/** A message with its gRPC prefix (flag byte, big-endian length). */
function framed(body: Uint8Array, compressed = 0): Buffer {
  const f = Buffer.alloc(5 + body.byteLength);
  f[0] = compressed;
  f.writeUInt32BE(body.byteLength, 1);
  f.set(body, 5);
  return f;
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("pooled receives", () => {
  it("installs on this grpc-js, once", () => {
    expect(installPooledReceives()).toBe(true);
    expect(installPooledReceives()).toBe(true);
  });

  it("frames messages exactly, however the stream is split (inside prefixes too)", () => {
    installPooledReceives();
    const bodies = [bytes(0, 1), bytes(7, 2), bytes(POOLED_MESSAGE_BYTES + 3, 3), bytes(1, 4), bytes(3 * POOLED_MESSAGE_BYTES, 5), bytes(0, 6)];
    const frames = bodies.map((b, i) => framed(b, i === 3 ? 1 : 0));
    const stream = Buffer.concat(frames);
    for (const cut of [1, 2, 3, 5, 16384, 100_000, stream.length]) {
      const decoder = new StreamDecoder(-1);
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; at += cut) got.push(...decoder.write(stream.subarray(at, at + cut)).map((m) => Buffer.from(m)));
      expect(got.length, `cut ${cut}`).toBe(frames.length);
      got.forEach((m, i) => expect(m.equals(frames[i]!), `cut ${cut}, message ${i}`).toBe(true));
    }
  });

  it("refuses a message over the limit, as grpc-js does", () => {
    installPooledReceives();
    const decoder = new StreamDecoder(100);
    expect(decoder.write(framed(bytes(100, 1))).length).toBe(1);
    expect(() => decoder.write(framed(bytes(101, 1)))).toThrow("Received message larger than max (101 vs 100)");
  });

  it("hands a big message's memory out again only once it was released", () => {
    installPooledReceives();
    const decoder = new StreamDecoder(-1);
    const big = (seed: number) => decoder.write(framed(bytes(POOLED_MESSAGE_BYTES, seed)))[0]!;
    const small = decoder.write(framed(bytes(100, 9)))[0]!;
    releaseReceived(small.subarray(5)); // not pooled: ignored
    releaseReceived(new Uint8Array(POOLED_MESSAGE_BYTES)); // not received here: ignored
    const first = big(1);
    const second = big(2);
    expect(second.buffer).not.toBe(first.buffer); // the first is still being read
    expect(first.subarray(5).equals(bytes(POOLED_MESSAGE_BYTES, 1))).toBe(true);
    const before = spareReceiveBytes();
    releaseReceived(first.subarray(5)); // a view of the message, as a decoded chunk is
    expect(spareReceiveBytes()).toBe(before + first.buffer.byteLength);
    releaseReceived(first.subarray(5)); // twice: still one spare
    expect(spareReceiveBytes()).toBe(before + first.buffer.byteLength);
    const third = big(3);
    expect(third.buffer).toBe(first.buffer);
    expect(third.subarray(5).equals(bytes(POOLED_MESSAGE_BYTES, 3))).toBe(true);
    expect(second.subarray(5).equals(bytes(POOLED_MESSAGE_BYTES, 2))).toBe(true); // untouched
    expect(spareReceiveBytes()).toBe(before);
  });
});
