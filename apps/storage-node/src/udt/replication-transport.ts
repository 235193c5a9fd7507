// Reconciler copies (POST /replicate) between sites over UDT: wraps the HTTP ChunkTransport
// and takes over for a source in another site that announced a UDT address.
import { AppError } from "@cumulus/protocol/errors";
import type { PipelineHop } from "@cumulus/protocol/node-api";
import { UDT_FRAMING_VERSION } from "@cumulus/protocol/udt-frames";
import type { UdtPool } from "@cumulus/client/node/udt-pool";
import type { ChunkTransport } from "../replication/transport.ts";
import type { BufferPool, StreamHandlers, StreamItem } from "../replication/stream-client.ts";
import type { Metrics } from "../service/metrics.ts";
import { isAtOwnHost } from "../service/own-host.ts";

export class WanAwareChunkTransport implements ChunkTransport {
  private readonly http: ChunkTransport;
  private readonly site: string;
  private readonly metrics: Metrics;
  private pool: UdtPool | null = null;
  private ownHost: string | null = null;

  constructor(http: ChunkTransport, site: string, metrics: Metrics) {
    this.http = http;
    this.site = site;
    this.metrics = metrics;
  }

  /**
   * Set once the node's UDT side started (src/udt/start.ts). `ownHost` is this node's host:
   * sources there are read over HTTP whatever their site (ADR 0012).
   */
  useUdt(pool: UdtPool, ownHost?: string): void {
    this.pool = pool;
    this.ownHost = ownHost ?? null;
  }

  usesUdt(source: PipelineHop): boolean {
    return (
      this.pool !== null &&
      !!source.udt &&
      source.site !== undefined &&
      source.site !== this.site &&
      !isAtOwnHost(source.url, this.ownHost)
    );
  }

  async fetchChunk(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    if (!this.usesUdt(source)) return this.http.fetchChunk(source, chunk, size, readToken, signal);
    const pool = this.pool!;
    const where = `source node ${source.nodeId} (udt://${source.udt})`;
    let c;
    try {
      c = await pool.acquire(source.udt!, { fresh: true, signal });
    } catch (err) {
      throw new AppError("UNAVAILABLE", `${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const conn = c;
    const onAbort = () => conn.socket.destroy();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await conn.sendHeader({ v: UDT_FRAMING_VERSION, op: "get", chunk, token: readToken });
      const h = await conn.readResponse();
      if (h.status !== 200) {
        const err = AppError.fromBody(h.error ? { error: h.error } : null, h.status);
        throw new AppError(err.code, `${where}: ${err.message}`);
      }
      if (h.length !== size)
        throw new AppError("BAD_REQUEST", `${where} has ${h.length} bytes for chunk ${chunk}, expected ${size}`);
    } catch (err) {
      signal.removeEventListener("abort", onAbort);
      pool.release(conn, false);
      if (err instanceof AppError) throw err;
      throw new AppError("UNAVAILABLE", `${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const metrics = this.metrics;
    async function* body(): AsyncGenerator<Uint8Array> {
      let ok = false;
      try {
        for await (const piece of conn.reader.body(size)) {
          metrics.udtBytesIn += piece.byteLength;
          yield piece;
        }
        ok = true;
      } finally {
        signal.removeEventListener("abort", onAbort);
        pool.release(conn, ok);
      }
    }
    return body();
  }

  async fetchChunkInto(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
    into: Uint8Array,
  ): Promise<Uint8Array | null> {
    if (this.usesUdt(source) || !this.http.fetchChunkInto) return null;
    return this.http.fetchChunkInto(source, chunk, size, readToken, signal, into);
  }

  streamChunks(
    source: PipelineHop,
    items: readonly StreamItem[],
    readToken: string,
    signal: AbortSignal,
    buffers: BufferPool,
    h: StreamHandlers,
  ): Promise<void> | null {
    // Over UDT a copy keeps to the per-chunk path (its own framing, one chunk per request).
    if (this.usesUdt(source) || !this.http.streamChunks) return null;
    return this.http.streamChunks(source, items, readToken, signal, buffers, h);
  }

  close(): void {
    this.http.close();
  }
}
