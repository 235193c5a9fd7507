import type { IncomingMessage, ServerResponse } from "node:http";
import { finished } from "node:stream";
import {
  CHUNK_STREAM_CONTENT_TYPE,
  ZChunkStreamRequest,
  encodeFrameHead,
  type ChunkStreamRequest,
} from "@cumulus/protocol/chunk-stream";
import { AppError } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES } from "@cumulus/protocol/ids";
import type { CapabilityClaims } from "@cumulus/protocol/node-api";
import type { ChunkStore } from "../store/chunk-store.ts";
import type { Metrics } from "../service/metrics.ts";
import { readJsonBody } from "./replicator.ts";

const MAX_BODY_BYTES = 16 * 1024;
/** Chunks read ahead of the one being sent, per stream. */
const READ_AHEAD = 4;
/**
 * Read buffers kept for reuse (a stream uses READ_AHEAD + 1): enough for a few streams
 * without holding 4 MiB each for ever on an idle node; more streams allocate.
 */
const BUFFERS_KEPT = 16;

export function readChunkStreamRequest(req: IncomingMessage): Promise<ChunkStreamRequest> {
  return readJsonBody(req, ZChunkStreamRequest, MAX_BODY_BYTES, "chunk stream request");
}

/**
 * The source side of a repair copy (POST /replicate/read): the requested chunks sent back
 * to back as frames over the one response, each read whole into a reused buffer and sent
 * unhashed while the next one is read. The target hashes every chunk on arrival anyway;
 * hashing here too cost a second pass over every byte repaired. A client never gets these
 * bytes: the route takes only the reconciler's read capabilities.
 */
export class ChunkStreamSource {
  private readonly store: ChunkStore;
  private readonly metrics: Metrics;
  private readonly buffers: Buffer[] = [];

  constructor(deps: { store: ChunkStore; metrics: Metrics }) {
    this.store = deps.store;
    this.metrics = deps.metrics;
  }

  /** Refuses, before a byte is sent, a capability that is not the reconciler's or misses a chunk. */
  static authorize(claims: CapabilityClaims, req: ChunkStreamRequest): void {
    if (claims.sub !== "system") {
      throw new AppError(
        "FORBIDDEN",
        "the chunk stream serves repair copies between nodes only; clients read chunks with GET /chunks/:id",
      );
    }
    const covered = new Set(claims.chunks);
    const missing = req.chunks.find((c) => !covered.has(c.chunk));
    if (missing) throw new AppError("FORBIDDEN", `capability token does not cover chunk ${missing.chunk}`);
  }

  async serve(req: ChunkStreamRequest, res: ServerResponse): Promise<void> {
    res.writeHead(200, { "content-type": CHUNK_STREAM_CONTENT_TYPE, "cache-control": "no-store" });
    const items = req.chunks;
    // Reads run ahead of the wire (READ_AHEAD chunks, each in a buffer of its own): a
    // cold disk answers several reads at once faster than one after the other, which is
    // what one GET per chunk used to get from many parallel requests.
    const free: Buffer[] = [];
    let owned = 0;
    /** Reads consumed by the loop below (sent or answered with an error frame). */
    let done = 0;
    const reads: Promise<Buffer | AppError>[] = [];
    const used: Buffer[] = [];
    let freed: (() => void) | null = null;
    const startReads = () => {
      while (reads.length < items.length && reads.length - done < READ_AHEAD) {
        let buf = free.pop();
        if (!buf && owned < READ_AHEAD + 1) {
          owned++;
          buf = this.take();
        }
        if (!buf) return;
        used[reads.length] = buf;
        reads.push(this.readOne(items[reads.length]!, buf));
      }
    };
    const release = (buf: Buffer) => {
      free.push(buf);
      freed?.();
    };
    let broken = false;
    // Resolves false when the connection goes first: a response whose socket is gone never
    // calls a write's callback.
    const write = (data: Uint8Array) =>
      new Promise<boolean>((resolve) => {
        if (res.destroyed) return resolve(false);
        const gone = () => resolve(false);
        res.once("close", gone);
        res.write(data, (err) => {
          res.off("close", gone);
          resolve(!err && !res.destroyed);
        });
      });
    const writes: Promise<void>[] = [];
    for (let k = 0; k < items.length; k++) {
      startReads();
      while (reads.length <= k && !broken) {
        // Every buffer is on the wire: wait for a write to finish.
        await new Promise<void>((r) => (freed = r));
        freed = null;
        startReads();
      }
      if (broken || res.destroyed) {
        broken = true;
        break;
      }
      const it = items[k]!;
      const got = await reads[k]!;
      done++;
      if (got instanceof AppError) {
        release(used[k]!);
        res.write(
          encodeFrameHead({ t: "error", chunk: it.chunk, code: got.code, message: got.message.slice(0, 4_000) }, 0),
        );
        continue;
      }
      res.write(encodeFrameHead({ t: "chunk", chunk: it.chunk, size: it.size }, it.size));
      this.metrics.bytesOut += it.size;
      const buf = used[k]!;
      writes.push(
        write(got).then((ok) => {
          // After a broken connection a buffer may still be referenced by the failed
          // write: it is left to the garbage collector, never reused.
          if (ok) release(buf);
          else {
            broken = true;
            freed?.();
          }
        }),
      );
    }
    if (!broken) res.write(encodeFrameHead({ t: "end", chunks: items.length }, 0));
    const ok = await new Promise<boolean>((resolve) => {
      finished(res, (err) => resolve(!err && !broken));
      res.end();
    });
    await Promise.all(writes);
    // Reads still running (the connection broke) keep their buffers; they are not reused.
    await Promise.allSettled(reads);
    if (ok) for (const b of free) if (this.buffers.length < BUFFERS_KEPT) this.buffers.push(b);
  }

  /** One chunk whole into `buf`, unverified (see the class comment); an AppError for an error frame. */
  private async readOne(it: { chunk: string; size: number }, buf: Buffer): Promise<Buffer | AppError> {
    try {
      const handle = await this.store.open(it.chunk);
      if (handle === null) return new AppError("NOT_FOUND", `chunk ${it.chunk} is not stored here`);
      if (handle.size !== it.size) {
        await handle.close();
        return new AppError("BAD_REQUEST", `chunk ${it.chunk} has ${handle.size} bytes here, not ${it.size}`);
      }
      return await (handle.readUnverified ? handle.readUnverified(buf) : handle.readVerified(buf));
    } catch (err) {
      return err instanceof AppError ? err : new AppError("INTERNAL", String(err));
    }
  }

  private take(): Buffer {
    return this.buffers.pop() ?? Buffer.allocUnsafeSlow(MAX_CHUNK_BYTES);
  }
}
