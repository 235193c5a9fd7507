// POST /chunks/batch on a storage node: several small chunks in one request (a run of small
// files costs a round trip, a token check and a directory fsync per chunk otherwise).
//
// Body (Content-Length required): a 4-byte big-endian length H, H bytes of UTF-8 JSON (the
// header below), then the chunks' bytes back to back, in header order. The header names each
// chunk's id and size and which of its `tokens` authorises it (a batch may carry chunks of
// files planned with different tokens), so the node knows every boundary, and the total,
// before it reads a byte of data. Answer 200 with one result per chunk, in order.
import { z } from "zod";
import { ZChunkId, MAX_CHUNK_BYTES } from "./ids.ts";
import { ZReceipt } from "./node-api.ts";

/** Chunks one batch may carry. */
export const MAX_PUT_BATCH_ITEMS = 64;
/** Data bytes one batch may carry: the node holds a batch in memory while it forwards it. */
export const MAX_PUT_BATCH_BYTES = 16 * 1024 * 1024;
/** Largest chunk a client should put in a batch; bigger ones go by plain PUT /chunks/:id. */
export const MAX_PUT_BATCH_CHUNK = 256 * 1024;
/** Largest header: a token is under 8 KB, and a batch may name one per chunk. */
export const MAX_PUT_BATCH_HEADER = MAX_PUT_BATCH_ITEMS * 8 * 1024 + 64 * 1024;
export const PUT_BATCH_PATH = "/chunks/batch";

export const ZPutChunkBatchHeader = z
  .object({
    tokens: z
      .array(
        z
          .string()
          .min(1)
          .max(16 * 1024),
      )
      .min(1)
      .max(MAX_PUT_BATCH_ITEMS),
    items: z
      .array(
        z.object({
          id: ZChunkId,
          size: z.number().int().positive().max(MAX_CHUNK_BYTES),
          /** Index into `tokens`. */
          token: z.number().int().min(0),
        }),
      )
      .min(1)
      .max(MAX_PUT_BATCH_ITEMS),
  })
  .superRefine((h, ctx) => {
    const seen = new Set<string>();
    let total = 0;
    for (const [i, it] of h.items.entries()) {
      if (it.token >= h.tokens.length)
        ctx.addIssue({
          code: "custom",
          path: ["items", i, "token"],
          message: `names token #${it.token} of ${h.tokens.length}`,
        });
      if (seen.has(it.id))
        ctx.addIssue({ code: "custom", path: ["items", i, "id"], message: `chunk ${it.id} is listed twice` });
      seen.add(it.id);
      total += it.size;
    }
    if (total > MAX_PUT_BATCH_BYTES)
      ctx.addIssue({
        code: "custom",
        path: ["items"],
        message: `the chunks add up to ${total} bytes, more than the ${MAX_PUT_BATCH_BYTES} one batch may carry`,
      });
  });
export type PutChunkBatchHeader = z.infer<typeof ZPutChunkBatchHeader>;

export const ZPutChunkBatchResult = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    chunk: ZChunkId,
    size: z.number().int().positive(),
    /** One receipt per node of the chunk's pipeline from this node on, in pipeline order. */
    receipts: z.array(ZReceipt).min(1),
  }),
  z.object({
    ok: z.literal(false),
    chunk: ZChunkId,
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
]);
export type PutChunkBatchResult = z.infer<typeof ZPutChunkBatchResult>;

export const ZPutChunkBatchResponse = z.object({ results: z.array(ZPutChunkBatchResult).max(MAX_PUT_BATCH_ITEMS) });
export type PutChunkBatchResponse = z.infer<typeof ZPutChunkBatchResponse>;

/** The bytes that precede the chunk data: length prefix and JSON header. */
export function encodePutBatchHead(header: PutChunkBatchHeader): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length, false);
  out.set(json, 4);
  return out;
}
