import { describe, expect, it } from "vitest";
import { checksum, jsChecksum } from "../../../shared/codec/crc32c.js";
import { Random } from "../../../shared/random.js";

const bytes = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i));

describe("CRC-32C", () => {
  it("runs natively where the addon is built (as in CI)", () => {
    expect(checksum().name).toBe("native");
  });

  for (const impl of [checksum(), jsChecksum]) {
    it(`${impl.name}: gives the standard check values (RFC 3720 B.4 and "123456789")`, () => {
      expect(impl.crc32c(new TextEncoder().encode("123456789"), 0)).toBe(0xe3069283);
      expect(impl.crc32c(new Uint8Array(32), 0)).toBe(0x8a9136aa);
      expect(impl.crc32c(bytes(32, () => 0xff), 0)).toBe(0x62a8ab43);
      expect(impl.crc32c(bytes(32, (i) => i), 0)).toBe(0x46dd794e);
      expect(impl.crc32c(bytes(32, (i) => 31 - i), 0)).toBe(0x113fdb5c);
      expect(impl.crc32c(new Uint8Array(0), 0)).toBe(0);
    });
  }

  it("native and JavaScript agree at every length, alignment and starting value, in one piece or continued", () => {
    const native = checksum();
    const rng = new Random(3);
    // Long enough for the native three-stream loop (3 × 8 KiB blocks) and its 3 × 256-byte tail loop.
    const data = bytes(200_000, () => Math.floor(rng.next() * 256));
    const cases = [0, 1, 7, 8, 9, 767, 768, 769, 24_575, 24_576, 24_577, 100_003, 199_990];
    for (const len of cases) {
      for (const offset of [0, 1, 3, 5]) {
        const part = data.subarray(offset, offset + len);
        const seed = Math.floor(rng.next() * 2 ** 32);
        const expected = jsChecksum.crc32c(part, seed);
        expect(native.crc32c(part, seed)).toBe(expected);
        const split = Math.floor(len / 3);
        expect(native.crc32c(part.subarray(split), native.crc32c(part.subarray(0, split), seed))).toBe(expected);
        expect(jsChecksum.crc32c(part.subarray(split), jsChecksum.crc32c(part.subarray(0, split), seed))).toBe(expected);
      }
    }
  });

  for (const impl of [checksum(), jsChecksum]) {
    it(`${impl.name}: copyCrc32c copies exactly the source and returns its CRC; refuses a short destination`, () => {
      const src = bytes(30_001, (i) => (i * 131) & 0xff);
      const dst = new Uint8Array(30_010).fill(0xee);
      expect(impl.copyCrc32c(dst.subarray(3), src.subarray(1), 42)).toBe(jsChecksum.crc32c(src.subarray(1), 42));
      expect(Array.from(dst.subarray(3, 30_003))).toEqual(Array.from(src.subarray(1)));
      expect(dst[2]).toBe(0xee);
      expect(dst[30_003]).toBe(0xee);
      expect(() => impl.copyCrc32c(new Uint8Array(4), src, 0)).toThrow(/src is longer than dst/);
    });
  }

  it("detects every single-bit flip in a chunk", () => {
    const data = bytes(4096, (i) => (i * 7) & 0xff);
    const good = checksum().crc32c(data, 0);
    for (let bit = 0; bit < data.length * 8; bit += 97) {
      data[bit >> 3] ^= 1 << (bit & 7);
      expect(checksum().crc32c(data, 0)).not.toBe(good);
      data[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});
