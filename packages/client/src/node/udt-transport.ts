// Node-only: chunk PUT/GET to storage nodes over UDT (WAN acceleration). Loaded with a
// dynamic import by node/upload-file and node/download-file when the transport is not
// "http", so browser bundles and HTTP-only runs never load the native addon.
import { AppError } from "@cumulus/protocol/errors";
import { UDT_FRAMING_VERSION, type UdtResponse } from "@cumulus/protocol/udt-frames";
import { fetchChunk, putChunk, type ChunkIo, type ChunkRequestOptions, type HashFn, type NodeRef } from "../chunks.ts";
import type { FetchFn } from "../http.ts";
import { UdtPool, type UdtConnection, type UdtPoolOptions } from "./udt-pool.ts";

export type TransportChoice = "udt" | "http" | "auto";
export const TRANSPORT_CHOICES: readonly TransportChoice[] = ["udt", "http", "auto"];

const DEFAULT_CHUNK_TIMEOUT_MS = 120_000;

function label(n: NodeRef): string {
  return `storage node ${n.node} (${n.site})`;
}

function errorOf(n: NodeRef, h: UdtResponse, what: string): AppError {
  const err = AppError.fromBody(h.error ? { error: h.error } : null, h.status);
  const msg = err.message.includes(n.node) ? err.message : `${label(n)}: ${what}: ${err.message}`;
  return new AppError(err.code, msg, err.details);
}

function describe(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const code = "code" in err && typeof err.code === "string" ? err.code : undefined;
    const message = "message" in err && typeof err.message === "string" ? err.message : undefined;
    return [code, message].filter(Boolean).join(": ") || "unknown error";
  }
  return String(err);
}

/**
 * Chooses per node: `udt` = UDT whenever the node has a UDT address, `auto` = only when the
 * node is in another site than `site` (with no site configured: every node with one),
 * `http` = never. Nodes without a UDT address always get HTTP.
 */
export class UdtChunkTransport implements ChunkIo {
  readonly mode: TransportChoice;
  readonly site: string | null;
  readonly pool: UdtPool;
  /** Chunks moved over UDT, for tests and progress output. */
  udtChunks = 0;

  /** Chunk I/O for nodes reached over HTTP (default: the fetch-based `putChunk`/`fetchChunk`). */
  readonly http: ChunkIo;

  constructor(opts: {
    mode: TransportChoice;
    site?: string | null;
    pool?: UdtPool;
    poolOptions?: UdtPoolOptions;
    http?: ChunkIo & { close?(): void };
  }) {
    this.mode = opts.mode;
    this.site = opts.site ?? null;
    this.pool = opts.pool ?? new UdtPool(opts.poolOptions);
    this.http = opts.http ?? { putChunk, fetchChunk };
  }

  usesUdt(n: NodeRef): boolean {
    if (!n.udt || this.mode === "http") return false;
    if (this.mode === "udt") return true;
    return this.site === null || n.site !== this.site;
  }

  putChunk = async (
    fetchFn: FetchFn,
    first: NodeRef,
    token: string,
    id: string,
    data: Uint8Array,
    opts: ChunkRequestOptions = {},
  ): Promise<string[]> => {
    if (!this.usesUdt(first)) return this.http.putChunk(fetchFn, first, token, id, data, opts);
    const h = await this.exchange(first, opts, async (c) => {
      await c.sendHeader({ v: UDT_FRAMING_VERSION, op: "put", chunk: id, token, size: data.length });
      await c.write(data);
      return c.readResponse();
    });
    if (h.status !== 201) throw errorOf(first, h, `PUT chunk ${id.slice(0, 12)}`);
    if (!h.receipts?.length) throw new AppError("INTERNAL", `${label(first)} answered a UDT PUT without receipts`);
    this.udtChunks += 1;
    return h.receipts;
  };

  fetchChunk = async (
    fetchFn: FetchFn,
    replica: NodeRef,
    token: string,
    id: string,
    size: number,
    hash: HashFn,
    opts: ChunkRequestOptions = {},
  ): Promise<Uint8Array> => {
    if (!this.usesUdt(replica)) return this.http.fetchChunk(fetchFn, replica, token, id, size, hash, opts);
    const buf = new Uint8Array(size);
    const h = await this.exchange(replica, opts, async (c) => {
      await c.sendHeader({ v: UDT_FRAMING_VERSION, op: "get", chunk: id, token });
      const r = await c.readResponse();
      if (r.status !== 200) return r;
      if (r.length !== size || r.chunkSize !== size) {
        throw new AppError(
          "HASH_MISMATCH",
          `${label(replica)} announced ${r.length ?? "?"} bytes for chunk ${id.slice(0, 12)} of ${size} bytes`,
        );
      }
      let got = 0;
      try {
        for await (const piece of c.reader.body(size)) {
          buf.set(piece, got);
          got += piece.length;
        }
      } catch (err) {
        throw new AppError(
          "TRUNCATED",
          `${label(replica)} broke off chunk ${id.slice(0, 12)} after ${got} of ${size} bytes: ${describe(err)}`,
        );
      }
      return r;
    });
    if (h.status !== 200) throw errorOf(replica, h, `GET chunk ${id.slice(0, 12)}`);
    const actual = await hash(buf);
    if (actual !== id) {
      throw new AppError(
        "HASH_MISMATCH",
        `${label(replica)} returned corrupt data for chunk ${id.slice(0, 12)} (SHA-256 ${actual.slice(0, 12)})`,
      );
    }
    this.udtChunks += 1;
    return buf;
  };

  /**
   * Runs one request on a pooled connection; a stale pooled connection (it broke before
   * any answer) is retried once on a fresh one — PUT and GET are idempotent here.
   */
  private async exchange(
    n: NodeRef,
    opts: ChunkRequestOptions,
    fn: (c: UdtConnection) => Promise<UdtResponse>,
  ): Promise<UdtResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      opts.signal?.throwIfAborted();
      let c: UdtConnection;
      try {
        c = await this.pool.acquire(n.udt!, { fresh: attempt > 0, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (err) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        throw new AppError("UNAVAILABLE", `cannot reach ${label(n)} over UDT at ${n.udt}: ${describe(err)}`);
      }
      const onAbort = () => c.socket.destroy();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => c.socket.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      try {
        const h = await fn(c);
        this.pool.release(c, h.status < 300);
        return h;
      } catch (err) {
        this.pool.release(c, false);
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (err instanceof AppError) throw err;
        if (c.reused && attempt === 0) continue;
        throw new AppError("UNAVAILABLE", `${label(n)} over UDT at ${n.udt}: ${describe(err)}`);
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
      }
    }
  }

  close(): void {
    this.pool.close();
    (this.http as { close?(): void }).close?.();
  }
}

/** A transport for `mode`, or null for plain HTTP (nothing native is loaded then). */
export function createChunkTransport(
  mode: TransportChoice,
  site: string | null,
  http?: ChunkIo & { close?(): void },
): UdtChunkTransport | null {
  if (mode === "http") return null;
  return new UdtChunkTransport({ mode, site, ...(http ? { http } : {}) });
}
