/**
 * Payload chunks are sent without grpc-js copying them (shared/codec/framedSends.ts), by the coordinator (the
 * cached model) and by clients (their updates): each side's hook returns a framed message as a view of the
 * memory it already has, with the right prefix, sends a client's chunk writes as they are, and leaves every
 * other message to grpc-js's own copying code. That downloads and uploads still arrive whole and exact through a real server is checked by the
 * transport tests (largeModelTransfer.test.ts, downloadEncoding.test.ts and others).
 */
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { dataChunkWrites, framedDataChunk, framedMessage, installFramedSends } from "../../../shared/codec/framedSends.js";
import { chunkMessageBytes } from "../../../shared/codec/wireSize.js";
import { dataChunkView } from "../../../shared/codec/chunkMessages.js";

interface Call {
  handler: { serialize(v: unknown): Buffer };
  serializeMessage(v: unknown): Buffer;
}
const { BaseServerInterceptingCall } = createRequire(import.meta.url)("@grpc/grpc-js/build/src/server-interceptors.js") as {
  BaseServerInterceptingCall: { prototype: Call };
};

/** serializeMessage as grpc-js calls it, on a call whose handler serializes Buffers as themselves. */
const serialize = (value: unknown): Buffer => BaseServerInterceptingCall.prototype.serializeMessage.call({ handler: { serialize: (v: unknown) => v as Buffer } } as Call, value);

describe("framed sends, server side", () => {
  it("installs on this grpc-js", () => {
    expect(installFramedSends("server")).toBe(true);
    expect(installFramedSends("server")).toBe(true); // once: a second call does not wrap the hook again
  });

  it("sends a framed message as a view of its own memory, behind the right prefix", () => {
    installFramedSends("server");
    const data = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    for (const message of [framedMessage(Buffer.from("header bytes")), framedDataChunk(data)]) {
      const sent = serialize(message);
      expect(sent.buffer).toBe(message.buffer); // no copy
      expect(sent.byteOffset).toBe(message.byteOffset - 5);
      expect(sent.readUInt8(0)).toBe(0); // uncompressed
      expect(sent.readUInt32BE(1)).toBe(message.byteLength);
      expect(sent.subarray(5).equals(message)).toBe(true);
    }
    expect(dataChunkView(framedDataChunk(data))!.equals(data)).toBe(true);
  });

  it("leaves other messages to grpc-js, which copies them behind their prefix", () => {
    installFramedSends("server");
    const plain = Buffer.from("not framed");
    const sent = serialize(plain);
    expect(sent.readUInt32BE(1)).toBe(plain.byteLength);
    expect(sent.subarray(5).equals(plain)).toBe(true);
    plain[0] = 0x21; // a copy: the sent message does not change with the original
    expect(sent.subarray(5).toString()).toBe("not framed");
    // A view of a framed message's memory that is not the message itself is not trusted either.
    const inner = framedMessage(Buffer.from("abcdef")).subarray(1);
    const sentInner = serialize(inner);
    expect(sentInner.readUInt32BE(1)).toBe(5);
    inner[0] = 0x21;
    expect(sentInner.subarray(5).toString()).toBe("bcdef");
  });
});

interface Handler {
  writeMessage(message: Buffer, compress: boolean): Promise<Buffer>;
}
const { CompressionFilter } = createRequire(import.meta.url)("@grpc/grpc-js/build/src/compression-filter.js") as {
  CompressionFilter: new (options: object, shared: object) => { sendCompression: Handler };
};

describe("framed sends, client side", () => {
  /** How a client call's compression filter frames a message (no compression negotiated). */
  const write = (message: Buffer) => new CompressionFilter({}, {}).sendCompression.writeMessage(message, false);

  it("installs on this grpc-js, once", () => {
    expect(installFramedSends("client")).toBe(true);
    expect(installFramedSends("client")).toBe(true);
  });

  it("sends a chunk's writes where their bytes are, which together make one data-chunk message, and copies other messages", async () => {
    installFramedSends("client");
    const tensorA = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const tensorB = Uint8Array.from({ length: 170 }, (_, i) => 255 - i);
    const pieces = [tensorA.subarray(1000), tensorB.subarray(0, 17)]; // one chunk spanning two tensors
    const writes = dataChunkWrites(pieces);
    const sent = await Promise.all(writes.map((w) => write(w)));
    sent.slice(1).forEach((s, i) => {
      expect(s.buffer).toBe(pieces[i]!.buffer); // no copy, no prefix of its own
      expect(s.byteOffset).toBe(pieces[i]!.byteOffset);
      expect(s.byteLength).toBe(pieces[i]!.byteLength);
    });
    const message = Buffer.concat(sent);
    expect(message.readUInt8(0)).toBe(0); // uncompressed
    expect(message.readUInt32BE(1)).toBe(message.byteLength - 5);
    expect(message.byteLength).toBe(chunkMessageBytes(2017));
    expect(dataChunkView(message.subarray(5))!.equals(Buffer.concat(pieces))).toBe(true);

    const plain = Buffer.from("header message");
    const copied = await write(plain);
    expect(copied.readUInt32BE(1)).toBe(plain.byteLength);
    expect(copied.subarray(5).equals(plain)).toBe(true);
    plain[0] = 0x21; // a copy: the sent message does not change with the original
    expect(copied.subarray(5).toString()).toBe("header message");
  });
});
