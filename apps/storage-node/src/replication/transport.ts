import http from "node:http";
import https from "node:https";
import { RawGetError, RawGetter, RawProtocolError } from "@cumulus/client/node/raw-get";
import { AppError } from "@cumulus/protocol/errors";
import type { PipelineHop } from "@cumulus/protocol/node-api";
import {
  answerError,
  fetchChunkStream,
  type BufferPool,
  type StreamHandlers,
  type StreamItem,
} from "./stream-client.ts";

/**
 * How a node pulls a chunk from another node for a reconciler copy. Behind an interface
 * so cross-site copies can move to UDT (native/udt) without touching the replication
 * logic: an implementation only has to hand back the chunk's bytes, unverified (the
 * caller's chunk store hashes them on the way in).
 */
export interface ChunkTransport {
  fetchChunk(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>>;
  /**
   * The whole chunk received straight into `into` (at least `size` bytes), unverified;
   * resolves with the view of `into` that holds it. null: this transport cannot for this
   * source, use fetchChunk. After a rejection `into` may still be written to by the dying
   * connection and must not be reused.
   */
  fetchChunkInto?(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
    into: Uint8Array,
  ): Promise<Uint8Array | null>;
  /**
   * Many chunks of one source as one framed stream (POST /replicate/read), handed to
   * `h` as they arrive, unverified. null: this transport cannot for this source; use
   * the per-chunk calls. See fetchChunkStream for what a rejection means.
   */
  streamChunks?(
    source: PipelineHop,
    items: readonly StreamItem[],
    readToken: string,
    signal: AbortSignal,
    buffers: BufferPool,
    h: StreamHandlers,
  ): Promise<void> | null;
  close(): void;
}

const MAX_ERROR_BODY = 64 * 1024;

/** GET <source>/chunks/<id> over HTTP(S) with keep-alive connections. */
/** How errors name a source node. */
function sourceName(source: PipelineHop): string {
  return `source node ${source.nodeId} (${source.url})`;
}

/** GET /chunks/:id on `source`. */
function chunkUrl(source: PipelineHop, chunk: string): URL {
  return new URL(`chunks/${chunk}`, source.url.endsWith("/") ? source.url : `${source.url}/`);
}

export class HttpChunkTransport implements ChunkTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  /**
   * Plain-HTTP sources: a minimal keep-alive reader that receives the body into the
   * caller's buffer. node:http allocated a Buffer per 64 KiB socket read and ran it through
   * its stream machinery: most of a repair's garbage collection on the target.
   */
  private readonly raw = new RawGetter(64);
  private readonly idleTimeoutMs: number;

  constructor(opts: { idleTimeoutMs?: number } = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  }

  async fetchChunkInto(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
    into: Uint8Array,
  ): Promise<Uint8Array | null> {
    const url = chunkUrl(source, chunk);
    if (url.protocol !== "http:") return null;
    const where = sourceName(source);
    signal.throwIfAborted();
    let destroy: ((e: Error) => void) | null = null;
    const onAbort = () => destroy?.(new Error("copy deadline reached"));
    let idle: NodeJS.Timeout | null = null;
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.raw.get(url, readToken, size, into, MAX_ERROR_BODY, (d) => {
        destroy = d;
        // A whole chunk (≤ 4 MiB) that takes longer than the idle time-out is stuck. Called
        // again when a stale keep-alive connection is retried: the first timer goes with it.
        if (idle) clearTimeout(idle);
        idle = setTimeout(() => d(new Error(`no answer within ${this.idleTimeoutMs} ms`)), this.idleTimeoutMs);
        idle.unref();
      });
      if (res.status === 200) return res.body;
      throw answerError(where, res.body, res.status);
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof RawProtocolError && err.length !== null) {
        throw new AppError("BAD_REQUEST", `${where} has ${err.length} bytes for chunk ${chunk}, expected ${size}`);
      }
      const msg = err instanceof RawGetError || err instanceof RawProtocolError ? err.message : describe(err);
      throw new AppError("UNAVAILABLE", `${where}: ${msg}`);
    } finally {
      if (idle) clearTimeout(idle);
      signal.removeEventListener("abort", onAbort);
    }
  }

  streamChunks(
    source: PipelineHop,
    items: readonly StreamItem[],
    readToken: string,
    signal: AbortSignal,
    buffers: BufferPool,
    h: StreamHandlers,
  ): Promise<void> | null {
    if (!source.url.startsWith("http:")) return null;
    return fetchChunkStream(
      source.url,
      sourceName(source),
      items,
      readToken,
      { signal, idleTimeoutMs: this.idleTimeoutMs, buffers },
      h,
    );
  }

  fetchChunk(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    const url = chunkUrl(source, chunk);
    const mod = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {
        method: "GET",
        agent: url.protocol === "https:" ? this.httpsAgent : this.httpAgent,
        headers: { authorization: `Bearer ${readToken}` },
        signal,
      });
      req.setTimeout(this.idleTimeoutMs, () => req.destroy(new Error(`no progress for ${this.idleTimeoutMs} ms`)));
      req.once("error", (err) => reject(new AppError("UNAVAILABLE", `${sourceName(source)}: ${describe(err)}`)));
      req.once("response", (res) => {
        if (res.statusCode === 200) {
          const declared = Number(res.headers["content-length"]);
          if (Number.isFinite(declared) && declared !== size) {
            res.destroy();
            reject(
              new AppError(
                "BAD_REQUEST",
                `source node ${source.nodeId} has ${declared} bytes for chunk ${chunk}, expected ${size}`,
              ),
            );
            return;
          }
          resolve(res);
          return;
        }
        const parts: Buffer[] = [];
        let total = 0;
        res.on("data", (b: Buffer) => {
          total += b.length;
          if (total <= MAX_ERROR_BODY) parts.push(b);
        });
        res.once("end", () => reject(answerError(sourceName(source), Buffer.concat(parts), res.statusCode!)));
        res.once("error", (err) =>
          reject(new AppError("UNAVAILABLE", `source node ${source.nodeId}: ${describe(err)}`)),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.raw.close();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function describe(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const code = "code" in err && typeof err.code === "string" ? err.code : undefined;
    const message = "message" in err && typeof err.message === "string" ? err.message : undefined;
    return code ?? message ?? "unknown error";
  }
  return String(err);
}
