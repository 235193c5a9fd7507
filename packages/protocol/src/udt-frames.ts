import { z } from "zod";
import { ZErrorBody } from "./errors.ts";
import { ZChunkId } from "./ids.ts";
import { ZReceipt } from "./node-api.ts";

/**
 * The chunk data protocol over UDT (WAN acceleration), between clients or nodes and a
 * storage node's UDT listener. Same semantics as the HTTP data API (`PUT/GET/HEAD
 * /chunks/:id`, capability tokens, receipts), framed for a byte stream:
 *
 *   request  := header(ZUdtRequest)  [ `size` raw bytes, for put ]
 *   response := header(ZUdtResponse) [ `length` raw bytes, for get ]
 *   header   := u32 big-endian byte length (1 … UDT_MAX_HEADER_BYTES), then that much UTF-8 JSON
 *
 * Requests on one connection are sequential: the next request is sent once the previous
 * response was read to its end. Clients keep a small pool of idle connections per node
 * (a UDT handshake costs a round trip plus the framing hello, which is most of a small
 * chunk's time on a 200 ms link), and run several connections in parallel for
 * throughput. After an error response the node closes the connection (it may not have
 * read the request body), so a connection is reused only after a success.
 *
 * Browser-safe (no Node imports): schemas, encoding and a reader over any async
 * iterator of byte blocks (a UDT socket is one).
 */

export const UDT_FRAMING_VERSION = 1;
/** Headers carry tokens (a few KiB for a batch of chunks) and receipts (one per replica). */
export const UDT_MAX_HEADER_BYTES = 256 * 1024;

export const ZUdtRange = z
  .object({ start: z.number().int().min(0), end: z.number().int().min(0) })
  .refine((r) => r.end >= r.start, "range end must not be before its start");
export type UdtRange = z.infer<typeof ZUdtRange>;

export const ZUdtRequest = z.discriminatedUnion("op", [
  z.object({
    v: z.literal(UDT_FRAMING_VERSION),
    op: z.literal("put"),
    chunk: ZChunkId,
    token: z.string().min(1).max(200_000),
    /** Exactly this many body bytes follow the header. */
    size: z.number().int().positive(),
  }),
  z.object({
    v: z.literal(UDT_FRAMING_VERSION),
    op: z.literal("get"),
    chunk: ZChunkId,
    token: z.string().min(1).max(200_000),
    /** Inclusive byte range, as HTTP's `Range: bytes=start-end`. */
    range: ZUdtRange.optional(),
  }),
  z.object({
    v: z.literal(UDT_FRAMING_VERSION),
    op: z.literal("head"),
    chunk: ZChunkId,
    token: z.string().min(1).max(200_000),
  }),
]);
export type UdtRequest = z.infer<typeof ZUdtRequest>;

export const ZUdtResponse = z.object({
  /** The HTTP status the same request would have had (201 put, 200/206 get, 200 head, errors). */
  status: z.number().int().min(100).max(599),
  error: ZErrorBody.shape.error.optional(),
  /** put: one receipt per pipeline node, in pipeline order (as `ZPutChunkResponse`). */
  receipts: z.array(ZReceipt).optional(),
  /** get/head: the whole chunk's size. */
  chunkSize: z.number().int().positive().optional(),
  /** get: raw bytes that follow this header. */
  length: z.number().int().min(0).optional(),
  range: ZUdtRange.optional(),
});
export type UdtResponse = z.infer<typeof ZUdtResponse>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One header frame: u32 BE length, then the JSON. */
export function encodeUdtHeader(header: UdtRequest | UdtResponse): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  if (json.length === 0 || json.length > UDT_MAX_HEADER_BYTES) {
    throw new RangeError(`UDT header of ${json.length} bytes (max ${UDT_MAX_HEADER_BYTES})`);
  }
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length, false);
  out.set(json, 4);
  return out;
}

export class UdtFrameError extends Error {
  readonly code = "ERR_UDT_FRAME";
}

/**
 * Pull-based reader over an async iterator of byte blocks (e.g. `socket[Symbol.asyncIterator]()`).
 * It never calls the iterator's `return()`, so the stream stays open between requests.
 */
export class UdtFrameReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array> | AsyncIterator<Uint8Array>) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source;
  }

  /** True once the stream ended cleanly with nothing left buffered. */
  async atEnd(): Promise<boolean> {
    if (this.buf.length > 0) return false;
    await this.fill(1);
    return this.buf.length === 0;
  }

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const v = r.value;
      if (v.length === 0) continue;
      if (this.buf.length === 0) this.buf = v;
      else {
        const joined = new Uint8Array(this.buf.length + v.length);
        joined.set(this.buf, 0);
        joined.set(v, this.buf.length);
        this.buf = joined;
      }
    }
  }

  private take(n: number): Uint8Array {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Reads one header frame and validates it; null if the stream ended before any byte. */
  async header<T>(schema: z.ZodType<T>): Promise<T | null> {
    await this.fill(4);
    if (this.buf.length === 0) return null;
    if (this.buf.length < 4) throw new UdtFrameError("stream ended inside a frame header");
    const len = new DataView(this.buf.buffer, this.buf.byteOffset, 4).getUint32(0, false);
    if (len === 0 || len > UDT_MAX_HEADER_BYTES) throw new UdtFrameError(`invalid header length ${len}`);
    this.take(4);
    await this.fill(len);
    if (this.buf.length < len) throw new UdtFrameError("stream ended inside a frame header");
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(this.take(len)));
    } catch {
      throw new UdtFrameError("frame header is not JSON");
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
      throw new UdtFrameError(`invalid frame header: ${problems}`);
    }
    return parsed.data;
  }

  /**
   * Yields exactly `n` body bytes in blocks as they arrive (views; copy to keep them past
   * the next pull). Throws UdtFrameError if the stream ends first.
   */
  async *body(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) await this.fill(1);
      if (this.buf.length === 0) throw new UdtFrameError(`stream ended after ${n - left} of ${n} body bytes`);
      const piece = this.take(Math.min(left, this.buf.length));
      left -= piece.length;
      yield piece;
    }
  }
}
