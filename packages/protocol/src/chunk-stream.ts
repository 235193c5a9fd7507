// The framed chunk stream of node-to-node repair copies (POST /replicate/read on the
// source node): the target asks for a batch of chunks once and receives them back to
// back over that one connection, instead of one GET per chunk. The source sends the
// bytes unhashed; the target verifies every chunk against its id on arrival, and a
// mismatch sends it back to the verified GET path, where the source's own check
// quarantines and reports a bad copy.
import { z } from "zod";
import { ZChunkId, MAX_CHUNK_BYTES } from "./ids.ts";
import { ZErrorCode } from "./errors.ts";
import { MAX_REPLICATE_BATCH } from "./node-api.ts";

export const CHUNK_STREAM_PATH = "/replicate/read";
export const CHUNK_STREAM_CONTENT_TYPE = "application/vnd.cumulus.chunk-frames";

/**
 * The request body. Authorized by a read capability issued to "system" (the reconciler)
 * that covers every chunk: clients read through GET /chunks/:id, which verifies first.
 */
export const ZChunkStreamRequest = z
  .object({
    chunks: z
      .array(z.object({ chunk: ZChunkId, size: z.number().int().positive().max(MAX_CHUNK_BYTES) }))
      .min(1)
      .max(MAX_REPLICATE_BATCH),
  })
  .refine((r) => new Set(r.chunks.map((c) => c.chunk)).size === r.chunks.length, {
    message: "a chunk is listed twice",
    path: ["chunks"],
  });
export type ChunkStreamRequest = z.infer<typeof ZChunkStreamRequest>;

/**
 * A frame's header. On the wire a frame is: u32 (big-endian) header length, u32 data
 * length, the header as UTF-8 JSON, then the data. The source answers every requested
 * chunk in request order with a `chunk` frame (data: the chunk's bytes, unverified) or an
 * `error` frame (no data), then one `end` frame; the response ends with the connection.
 * A stream without its `end` frame was cut short.
 */
export const ZChunkStreamFrame = z.discriminatedUnion("t", [
  z.object({ t: z.literal("chunk"), chunk: ZChunkId, size: z.number().int().positive().max(MAX_CHUNK_BYTES) }),
  z.object({ t: z.literal("error"), chunk: ZChunkId, code: ZErrorCode, message: z.string().max(4_096) }),
  z.object({ t: z.literal("end"), chunks: z.number().int().min(0).max(MAX_REPLICATE_BATCH) }),
]);
export type ChunkStreamFrame = z.infer<typeof ZChunkStreamFrame>;

export const FRAME_PREFIX_BYTES = 8;
/** A header is a few hundred bytes at most (an error message is capped at 4 KiB). */
export const MAX_FRAME_HEADER_BYTES = 8 * 1024;

/** The prefix and header of a frame carrying `dataBytes` bytes after it. */
export function encodeFrameHead(frame: ChunkStreamFrame, dataBytes: number): Buffer {
  const json = Buffer.from(JSON.stringify(frame), "utf8");
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + json.length);
  out.writeUInt32BE(json.length, 0);
  out.writeUInt32BE(dataBytes, 4);
  json.copy(out, FRAME_PREFIX_BYTES);
  return out;
}

/** Reads a frame's prefix; throws on lengths no well-formed frame has. */
export function decodeFramePrefix(prefix: Uint8Array): { headerBytes: number; dataBytes: number } {
  const view = new DataView(prefix.buffer, prefix.byteOffset, FRAME_PREFIX_BYTES);
  const headerBytes = view.getUint32(0);
  const dataBytes = view.getUint32(4);
  if (headerBytes === 0 || headerBytes > MAX_FRAME_HEADER_BYTES) {
    throw new Error(`frame header of ${headerBytes} bytes (at most ${MAX_FRAME_HEADER_BYTES})`);
  }
  if (dataBytes > MAX_CHUNK_BYTES) throw new Error(`frame data of ${dataBytes} bytes (at most ${MAX_CHUNK_BYTES})`);
  return { headerBytes, dataBytes };
}

/** Parses and checks a frame's header against the data length of its prefix. */
export function decodeFrameHeader(header: Uint8Array, dataBytes: number): ChunkStreamFrame {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString("utf8"));
  } catch {
    throw new Error("frame header is not valid JSON");
  }
  const parsed = ZChunkStreamFrame.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`invalid frame header: ${i?.path.join(".") || "(root)"}: ${i?.message}`);
  }
  const f = parsed.data;
  const want = f.t === "chunk" ? f.size : 0;
  if (dataBytes !== want) throw new Error(`a "${f.t}" frame carries ${dataBytes} data bytes, expected ${want}`);
  return f;
}
