/**
 * Builds small DICOM Part 10 files byte by byte for the tests: 128-byte preamble, "DICM", the group 0002
 * file meta information (always explicit VR little endian) with the transfer syntax, then the image
 * attributes and pixel data in the transfer syntax's encoding.
 */
import { deflateRawSync } from "node:zlib";

export const TS = {
  implicitLE: "1.2.840.10008.1.2",
  explicitLE: "1.2.840.10008.1.2.1",
  deflatedLE: "1.2.840.10008.1.2.1.99",
  explicitBE: "1.2.840.10008.1.2.2",
  jpegBaseline: "1.2.840.10008.1.2.4.50",
  jpeg2000: "1.2.840.10008.1.2.4.91",
  rle: "1.2.840.10008.1.2.5",
} as const;

export interface DicomSpec {
  transferSyntax?: string;
  rows: number;
  columns: number;
  samplesPerPixel?: number;
  photometric?: string;
  bitsAllocated?: number;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: 0 | 1;
  planarConfiguration?: 0 | 1;
  numberOfFrames?: number;
  windowCenter?: string;
  windowWidth?: string;
  rescaleIntercept?: string;
  rescaleSlope?: string;
  voiLutFunction?: string;
  /** The pixel data value as stored (for 16 bits: already in the transfer syntax's byte order). */
  pixelData: Uint8Array;
  /** Encapsulated (compressed) pixel data: one fragment holding pixelData. */
  encapsulated?: boolean;
}

type VR = "UL" | "OB" | "OW" | "UI" | "US" | "CS" | "DS" | "IS";
const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UT", "UN"]);

interface Element {
  group: number;
  element: number;
  vr: VR;
  value: Uint8Array;
  /** Written with undefined length (encapsulated pixel data: value already holds the items). */
  undefinedLength?: boolean;
}

function str(s: string, vr: VR): Uint8Array {
  const pad = vr === "UI" ? "\0" : " ";
  return Buffer.from(s.length % 2 ? s + pad : s, "latin1");
}

function u16(v: number, bigEndian: boolean): Uint8Array {
  const b = Buffer.alloc(2);
  if (bigEndian) b.writeUInt16BE(v);
  else b.writeUInt16LE(v);
  return b;
}

function encode(elements: Element[], explicit: boolean, bigEndian: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const e of elements) {
    const value = e.value.length % 2 ? Buffer.concat([e.value, Buffer.alloc(1)]) : Buffer.from(e.value);
    const length = e.undefinedLength ? 0xffffffff : value.length;
    const tag = Buffer.alloc(4);
    if (bigEndian) {
      tag.writeUInt16BE(e.group, 0);
      tag.writeUInt16BE(e.element, 2);
    } else {
      tag.writeUInt16LE(e.group, 0);
      tag.writeUInt16LE(e.element, 2);
    }
    parts.push(tag);
    if (explicit) {
      parts.push(Buffer.from(e.vr, "latin1"));
      if (LONG_VRS.has(e.vr)) {
        const l = Buffer.alloc(6);
        if (bigEndian) l.writeUInt32BE(length, 2);
        else l.writeUInt32LE(length, 2);
        parts.push(l);
      } else {
        const l = Buffer.alloc(2);
        if (bigEndian) l.writeUInt16BE(length);
        else l.writeUInt16LE(length);
        parts.push(l);
      }
    } else {
      const l = Buffer.alloc(4);
      l.writeUInt32LE(length);
      parts.push(l);
    }
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** Items of encapsulated pixel data: an empty basic offset table, one fragment, the sequence delimiter. */
function encapsulate(fragment: Uint8Array): Uint8Array {
  const item = (group: number, element: number, value: Uint8Array) => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(group, 0);
    h.writeUInt16LE(element, 2);
    h.writeUInt32LE(value.length, 4);
    return Buffer.concat([h, value]);
  };
  const even = fragment.length % 2 ? Buffer.concat([fragment, Buffer.alloc(1)]) : Buffer.from(fragment);
  return Buffer.concat([item(0xfffe, 0xe000, new Uint8Array(0)), item(0xfffe, 0xe000, even), item(0xfffe, 0xe0dd, new Uint8Array(0))]);
}

export function dicomBytes(spec: DicomSpec): Buffer {
  const ts = spec.transferSyntax ?? TS.explicitLE;
  const bigEndian = ts === TS.explicitBE;
  const explicit = ts !== TS.implicitLE;
  const bitsAllocated = spec.bitsAllocated ?? 8;
  const bitsStored = spec.bitsStored ?? bitsAllocated;
  const samples = spec.samplesPerPixel ?? 1;
  const us = (element: number, v: number): Element => ({ group: 0x0028, element, vr: "US", value: u16(v, bigEndian) });
  const cs = (group: number, element: number, vr: VR, s: string): Element => ({ group, element, vr, value: str(s, vr) });

  const data: Element[] = [cs(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"), us(0x0002, samples)];
  data.push(cs(0x0028, 0x0004, "CS", spec.photometric ?? (samples === 3 ? "RGB" : "MONOCHROME2")));
  if (spec.planarConfiguration !== undefined) data.push(us(0x0006, spec.planarConfiguration));
  if (spec.numberOfFrames !== undefined) data.push(cs(0x0028, 0x0008, "IS", String(spec.numberOfFrames)));
  data.push(us(0x0010, spec.rows), us(0x0011, spec.columns), us(0x0100, bitsAllocated), us(0x0101, bitsStored));
  data.push(us(0x0102, spec.highBit ?? bitsStored - 1), us(0x0103, spec.pixelRepresentation ?? 0));
  if (spec.windowCenter !== undefined) data.push(cs(0x0028, 0x1050, "DS", spec.windowCenter));
  if (spec.windowWidth !== undefined) data.push(cs(0x0028, 0x1051, "DS", spec.windowWidth));
  if (spec.rescaleIntercept !== undefined) data.push(cs(0x0028, 0x1052, "DS", spec.rescaleIntercept));
  if (spec.rescaleSlope !== undefined) data.push(cs(0x0028, 0x1053, "DS", spec.rescaleSlope));
  if (spec.voiLutFunction !== undefined) data.push(cs(0x0028, 0x1056, "CS", spec.voiLutFunction));
  data.push(
    spec.encapsulated
      ? { group: 0x7fe0, element: 0x0010, vr: "OB", value: encapsulate(spec.pixelData), undefinedLength: true }
      : { group: 0x7fe0, element: 0x0010, vr: bitsAllocated > 8 ? "OW" : "OB", value: spec.pixelData },
  );
  let body = encode(data, explicit, bigEndian);
  if (ts === TS.deflatedLE) body = deflateRawSync(body);

  const metaRest = encode(
    [
      { group: 0x0002, element: 0x0001, vr: "OB", value: Uint8Array.from([0, 1]) },
      cs(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.7"),
      cs(0x0002, 0x0003, "UI", "1.2.826.0.1.3680043.2.1125.1"),
      cs(0x0002, 0x0010, "UI", ts),
    ],
    true,
    false,
  );
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaRest.length);
  const meta = encode([{ group: 0x0002, element: 0x0000, vr: "UL", value: groupLength }], true, false);
  return Buffer.concat([Buffer.alloc(128), Buffer.from("DICM", "latin1"), meta, metaRest, body]);
}

/** 16-bit samples (two's complement for negatives) as stored bytes. */
export function samples16(values: readonly number[], bigEndian = false): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => (bigEndian ? b.writeUInt16BE(v & 0xffff, i * 2) : b.writeUInt16LE(v & 0xffff, i * 2)));
  return b;
}
