/**
 * Bytes a message takes on the wire: gRPC's 5-byte length prefix plus the protobuf encoding. For a chunk
 * message (one bytes field) the protobuf part is the field tag, the varint length and the data.
 */
export const GRPC_MESSAGE_PREFIX = 5;

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** The protobuf encoding of a data chunk of `dataBytes` bytes: field tag, varint length, data. */
export function dataChunkBytes(dataBytes: number): number {
  return 1 + varintLength(dataBytes) + dataBytes;
}

export function chunkMessageBytes(dataBytes: number): number {
  return GRPC_MESSAGE_PREFIX + dataChunkBytes(dataBytes);
}
