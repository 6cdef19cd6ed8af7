import { describe, expect, it } from "vitest";
import { dataChunkView, encodeDataChunkInto } from "../../../shared/codec/chunkMessages.js";
import { dataChunkBytes } from "../../../shared/codec/wireSize.js";
import { ModelChunk, UpdateChunk, UpdateHeader } from "../../../shared/generated/fedfusion/v1/federation.js";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
const encodeDataChunk = (data: Uint8Array) => encodeDataChunkInto(data, Buffer.allocUnsafe(dataChunkBytes(data.byteLength)), 0);

describe("payload chunk messages without copies", () => {
  it.each([0, 1, 127, 128, 300, 16_383, 16_384, 1 << 20])("encodes a %i-byte data chunk exactly as the generated code does", (n) => {
    const data = bytes(n);
    const ours = encodeDataChunk(data);
    // Buffer.equals, not toEqual: a deep comparison of 1 MiB takes vitest seconds.
    expect(ours.equals(ModelChunk.encode({ part: { $case: "data", value: Buffer.from(data) } }).finish())).toBe(true);
    expect(ours.equals(UpdateChunk.encode({ part: { $case: "data", value: Buffer.from(data) } }).finish())).toBe(true);
    // And decodes back to a view of the same bytes.
    const view = dataChunkView(ours);
    expect(view).not.toBeNull();
    expect(view!.buffer).toBe(ours.buffer);
    expect(view!.equals(data)).toBe(true);
  });

  it("writes chunks one after another into a buffer it is given, each message a view of its own part", () => {
    const out = Buffer.alloc(dataChunkBytes(300) + dataChunkBytes(128) + 5, 0xee);
    const first = encodeDataChunkInto(bytes(300), out, 0);
    const second = encodeDataChunkInto(bytes(128), out, first.byteLength);
    expect(first.buffer).toBe(out.buffer);
    expect(second.byteOffset - out.byteOffset).toBe(dataChunkBytes(300));
    expect(first.equals(encodeDataChunk(bytes(300)))).toBe(true);
    expect(second.equals(encodeDataChunk(bytes(128)))).toBe(true);
    expect([...out.subarray(-5)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
  });

  it("leaves every other message to the generated decoder", () => {
    const header = Buffer.from(UpdateChunk.encode({ part: { $case: "header", value: UpdateHeader.fromPartial({ sessionId: "s", round: 1, numExamples: 3 }) } }).finish());
    expect(dataChunkView(header)).toBeNull();
    // A data field followed by more bytes (e.g. a second field) is not "exactly one data chunk".
    const extra = Buffer.concat([encodeDataChunk(bytes(10)), Buffer.from([0x12, 0x01, 0x05])]);
    expect(dataChunkView(extra)).toBeNull();
    // Truncated: the length says more than there is.
    expect(dataChunkView(encodeDataChunk(bytes(300)).subarray(0, 200))).toBeNull();
    expect(dataChunkView(Buffer.from([0x12]))).toBeNull();
    expect(dataChunkView(Buffer.alloc(0))).toBeNull();
  });
});
