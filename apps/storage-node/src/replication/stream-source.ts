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
/** Read buffers kept for reuse: two per stream (one on the wire while the next is read). */
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
    const bufs = [this.take(), this.take()];
    // The write that last used each buffer: it is read into again only once that is done.
    const writing: (Promise<boolean> | null)[] = [null, null];
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
    for (const [k, it] of req.chunks.entries()) {
      const slot = k & 1;
      if (writing[slot] && !(await writing[slot])) broken = true;
      if (broken || res.destroyed) {
        broken = true;
        break;
      }
      let data: Buffer;
      try {
        const handle = await this.store.open(it.chunk);
        if (handle === null) throw new AppError("NOT_FOUND", `chunk ${it.chunk} is not stored here`);
        if (handle.size !== it.size) {
          await handle.close();
          throw new AppError("BAD_REQUEST", `chunk ${it.chunk} has ${handle.size} bytes here, not ${it.size}`);
        }
        data = await (handle.readUnverified ? handle.readUnverified(bufs[slot]) : handle.readVerified(bufs[slot]));
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError("INTERNAL", String(err));
        res.write(
          encodeFrameHead({ t: "error", chunk: it.chunk, code: e.code, message: e.message.slice(0, 4_000) }, 0),
        );
        continue;
      }
      res.write(encodeFrameHead({ t: "chunk", chunk: it.chunk, size: it.size }, it.size));
      this.metrics.bytesOut += it.size;
      writing[slot] = write(data);
    }
    if (!broken) res.write(encodeFrameHead({ t: "end", chunks: req.chunks.length }, 0));
    const ok = await new Promise<boolean>((resolve) => {
      finished(res, (err) => resolve(!err && !broken));
      res.end();
    });
    // After a broken connection a buffer may still be referenced by a failed write: it
    // is left to the garbage collector, never reused.
    if (ok) for (const b of bufs) if (this.buffers.length < BUFFERS_KEPT) this.buffers.push(b);
  }

  private take(): Buffer {
    return this.buffers.pop() ?? Buffer.allocUnsafeSlow(MAX_CHUNK_BYTES);
  }
}
