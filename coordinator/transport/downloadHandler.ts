/**
 * One DownloadModel call: the version's serialized header and chunks (GlobalModelCache), with the coordinator's
 * memory bounded however many clients download at once.
 *
 * grpc-js copies every message it sends into a fresh buffer and holds it until HTTP/2 flow control lets it
 * out. Written all at once, each download's whole model sat in those copies until the client had read it:
 * 300 clients downloading a 4 MB model together took the coordinator past 1.6 GB. So a download keeps at
 * most PER_CALL chunks written and not yet sent, and at most `slots.size` downloads send at once (the others
 * wait their turn, before writing anything): at most slots × PER_CALL × 1 MiB of chunk copies in all.
 */
import type * as grpc from "@grpc/grpc-js";
import { preEncoded } from "../../shared/codec/chunkMessages.js";
import { GRPC_MESSAGE_PREFIX } from "../../shared/codec/wireSize.js";
import type { DownloadModelRequest, ModelChunk } from "../../shared/generated/fedfusion/v1/federation.js";
import type { CachedModel } from "./globalModelCache.js";
import type { Slots } from "./slots.js";

/** Chunks of one download written but not yet handed to HTTP/2: two keep the connection busy. */
export const PER_CALL = 2;

export interface DownloadDeps {
  slots: Slots;
  /** Counts bytes sent for the round's metrics (gRPC's 5-byte prefix included). */
  recordTransfer: (bytes: number) => void;
}

export async function handleDownload(
  call: grpc.ServerWritableStream<DownloadModelRequest, ModelChunk>,
  model: CachedModel,
  d: DownloadDeps,
): Promise<void> {
  let gone = false;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const progress = () => {
    wake?.();
    wake = null;
  };
  // A cancelled call may never call back its writes: wake the loop so it lets its slot go.
  call.once("cancelled", () => {
    gone = true;
    progress();
  });
  const settled = () => {
    inFlight--;
    progress();
  };
  const until = async (ready: () => boolean) => {
    while (!ready() && !gone) await new Promise<void>((resolve) => (wake = resolve));
  };

  await d.slots.acquire();
  try {
    if (gone) return;
    d.recordTransfer(GRPC_MESSAGE_PREFIX + model.header.length);
    call.write(preEncoded<ModelChunk>(model.header));
    for (const chunk of model.chunks) {
      await until(() => inFlight < PER_CALL);
      if (gone) return;
      d.recordTransfer(GRPC_MESSAGE_PREFIX + chunk.length);
      inFlight++;
      call.write(preEncoded<ModelChunk>(chunk), settled);
    }
    await until(() => inFlight === 0);
    if (!gone) call.end();
  } finally {
    d.slots.release();
  }
}
