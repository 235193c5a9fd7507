// Node-only: chunk PUT/GET to storage nodes over node:http / node:https with a keep-alive
// agent per node origin. Same contract as `putChunk`/`fetchChunk` in ../chunks.ts (status
// and error mapping, verification, error codes), without global fetch: undici copies every
// PUT body twice and pushes every GET through web streams, which made the fetch path most
// of the client's CPU (docs/benchmarks.md). Browsers keep the fetch path.
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { AppError } from "@cumulus/protocol/errors";
import { ZPutChunkResponse } from "@cumulus/protocol/node-api";
import type { ChunkIo, ChunkRequestOptions, HashFn, NodeRef } from "../chunks.ts";
import { describeCause, errorFromStatus, joinUrl, type FetchFn } from "../http.ts";
import { RawGetError, RawGetter, RawProtocolError } from "./raw-get.ts";

const DEFAULT_CHUNK_TIMEOUT_MS = 120_000;
/** Most bytes of a JSON/error body kept in memory (receipts, error bodies are small). */
const MAX_SMALL_BODY = 1024 * 1024;

export interface HttpChunkIoOptions {
  /** Sockets per node origin (default 8; uploads/downloads default to 4 chunks in flight). */
  maxSockets?: number;
}

function nodeLabel(n: NodeRef): string {
  return `storage node ${n.node} (${n.site})`;
}

function withNode(n: NodeRef, err: AppError): AppError {
  return err.message.includes(n.node) ? err : new AppError(err.code, `${nodeLabel(n)}: ${err.message}`, err.details);
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

interface Exchange {
  req: http.ClientRequest;
  res: http.IncomingMessage;
}

/**
 * Chunk I/O over node:http(s). One keep-alive agent per node origin, so sockets to a node
 * are reused across chunks and never exceed `maxSockets` per node. `close()` destroys the
 * idle sockets (an open keep-alive socket would otherwise hold the process up to its
 * timeout).
 */
export class HttpChunkIo implements ChunkIo {
  private readonly agents = new Map<string, http.Agent>();
  private readonly maxSockets: number;
  private readonly raw: RawGetter;

  constructor(opts: HttpChunkIoOptions = {}) {
    this.maxSockets = Math.max(1, opts.maxSockets ?? 8);
    this.raw = new RawGetter(this.maxSockets);
  }

  private agentFor(url: URL): http.Agent {
    const key = url.origin;
    let a = this.agents.get(key);
    if (!a) {
      const o = {
        keepAlive: true,
        maxSockets: this.maxSockets,
        maxFreeSockets: this.maxSockets,
        scheduling: "lifo" as const,
      };
      a = url.protocol === "https:" ? new https.Agent(o) : new http.Agent(o);
      this.agents.set(key, a);
    }
    return a;
  }

  /**
   * Sends one request and resolves with the response head. A request on a reused keep-alive
   * socket that the server had closed (ECONNRESET/EPIPE before any answer) is retried once
   * on a fresh socket: chunk PUT and GET are idempotent.
   */
  private request(
    n: NodeRef,
    url: URL,
    method: "GET" | "PUT",
    headers: http.OutgoingHttpHeaders,
    body: Uint8Array | null,
    opts: ChunkRequestOptions,
    onTimeout: (destroy: (e: Error) => void) => void,
  ): Promise<Exchange> {
    const mod = url.protocol === "https:" ? https : http;
    const attempt = (retry: boolean): Promise<Exchange> =>
      new Promise<Exchange>((resolve, reject) => {
        let settled = false;
        const req = mod.request(url, { method, headers, agent: this.agentFor(url) });
        const fail = (err: unknown) => {
          if (settled) return;
          settled = true;
          cleanup();
          const code = (err as { code?: unknown }).code;
          if (!retry && req.reusedSocket && (code === "ECONNRESET" || code === "EPIPE") && !opts.signal?.aborted) {
            resolve(attempt(true));
            return;
          }
          reject(this.unreachable(n, err, opts.signal));
        };
        const onAbort = () =>
          req.destroy(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error("aborted"));
        const cleanup = () => opts.signal?.removeEventListener("abort", onAbort);
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        onTimeout((e) => req.destroy(e));
        req.on("error", fail);
        req.on("response", (res) => {
          if (settled) {
            res.destroy();
            return;
          }
          settled = true;
          cleanup();
          // Later errors (mid-body) are reported by the body readers.
          req.off("error", fail);
          req.on("error", () => undefined);
          resolve({ req, res });
        });
        if (body) req.end(body);
        else req.end();
      });
    return attempt(false);
  }

  private unreachable(n: NodeRef, err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof Error && err.name === "TimeoutError")
      return new AppError("UNAVAILABLE", `${nodeLabel(n)} at ${n.url} timed out`);
    return new AppError("UNAVAILABLE", `cannot reach ${nodeLabel(n)} at ${n.url}: ${describeCause(err)}`);
  }

  /** Reads a small body (JSON answer or error) as text, at most MAX_SMALL_BODY bytes. */
  private readSmall(res: http.IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let len = 0;
      res.on("data", (b: Buffer) => {
        len += b.length;
        if (len > MAX_SMALL_BODY) {
          res.destroy(new Error(`response body over ${MAX_SMALL_BODY} bytes`));
          return;
        }
        parts.push(b);
      });
      res.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
    });
  }

  private async errorOf(n: NodeRef, res: http.IncomingMessage, what: string): Promise<AppError> {
    let text = "";
    try {
      text = await this.readSmall(res);
    } catch {
      // the body is optional for the error; the status alone still says something
    }
    return withNode(n, errorFromStatus(res.statusCode ?? 0, res.statusMessage, text, what));
  }

  private timer(opts: ChunkRequestOptions): { arm: (destroy: (e: Error) => void) => void; clear: () => void } {
    const ms = opts.timeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS;
    let t: ReturnType<typeof setTimeout> | undefined;
    let destroyers: ((e: Error) => void)[] = [];
    return {
      arm: (d) => {
        destroyers.push(d);
        if (t === undefined && ms > 0) {
          t = setTimeout(() => {
            for (const x of destroyers) x(new TimeoutError(`timed out after ${ms} ms`));
          }, ms);
        }
      },
      clear: () => {
        if (t !== undefined) clearTimeout(t);
        destroyers = [];
      },
    };
  }

  putChunk = async (
    _fetchFn: FetchFn,
    first: NodeRef,
    token: string,
    id: string,
    data: Uint8Array,
    opts: ChunkRequestOptions = {},
  ): Promise<string[]> => {
    const url = joinUrl(first.url, `chunks/${id}`);
    const what = `PUT chunk ${id.slice(0, 12)}`;
    const tm = this.timer(opts);
    let timedOut = false;
    try {
      const { res } = await this.request(
        first,
        url,
        "PUT",
        {
          authorization: `Bearer ${token}`,
          "content-type": "application/octet-stream",
          "content-length": data.length,
        },
        data,
        opts,
        (d) =>
          tm.arm((e) => {
            timedOut = true;
            d(e);
          }),
      );
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw await this.errorOf(first, res, what);
      let text: string;
      try {
        text = await this.readSmall(res);
      } catch (err) {
        throw this.unreachable(first, timedOut ? new TimeoutError("timed out") : err, opts.signal);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (err) {
        throw new AppError(
          "INTERNAL",
          `${nodeLabel(first)}: ${what}: the response is not valid JSON (${describeCause(err)})`,
        );
      }
      const parsed = ZPutChunkResponse.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
        throw new AppError(
          "INTERNAL",
          `${nodeLabel(first)}: ${what}: unexpected response${where}: ${issue?.message ?? "does not match the protocol"}`,
        );
      }
      const body = parsed.data;
      if (body.chunk !== id || body.size !== data.length) {
        throw new AppError(
          "INTERNAL",
          `${nodeLabel(first)} acknowledged chunk ${body.chunk.slice(0, 12)} (${body.size} bytes) for ${id.slice(0, 12)} (${data.length} bytes)`,
        );
      }
      return body.receipts;
    } finally {
      tm.clear();
    }
  };

  /**
   * GETs one chunk into one buffer of exactly `size` bytes (`opts.into` when given and
   * large enough: a reused buffer; the result is then a view of it), hashing with SHA-256
   * as the bytes arrive, so corrupt bytes never leave this function. The `hash` argument
   * of the ChunkIo contract is not used: chunk ids are SHA-256 by definition.
   */
  fetchChunk = async (
    _fetchFn: FetchFn,
    replica: NodeRef,
    token: string,
    id: string,
    size: number,
    _hash: HashFn,
    opts: ChunkRequestOptions = {},
  ): Promise<Uint8Array> => {
    const url = joinUrl(replica.url, `chunks/${id}`);
    if (url.protocol === "http:") return this.fetchRaw(replica, url, token, id, size, opts);
    const tm = this.timer(opts);
    let timedOut = false;
    try {
      const { res } = await this.request(replica, url, "GET", { authorization: `Bearer ${token}` }, null, opts, (d) =>
        tm.arm((e) => {
          timedOut = true;
          d(e);
        }),
      );
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300)
        throw await this.errorOf(replica, res, `GET chunk ${id.slice(0, 12)}`);
      const buf = opts.into && opts.into.length >= size ? opts.into.subarray(0, size) : new Uint8Array(size);
      const h = createHash("sha256");
      let got = 0;
      const short = () =>
        new AppError("TRUNCATED", `${nodeLabel(replica)} sent ${got} of ${size} bytes of chunk ${id.slice(0, 12)}`);
      await new Promise<void>((resolve, reject) => {
        let done = false;
        const finish = (err?: unknown) => {
          if (done) return;
          done = true;
          if (err === undefined) resolve();
          else reject(err);
        };
        res.on("data", (piece: Buffer) => {
          if (done) return;
          if (got + piece.length > size) {
            finish(
              new AppError(
                "HASH_MISMATCH",
                `${nodeLabel(replica)} sent more than the ${size} bytes of chunk ${id.slice(0, 12)}`,
              ),
            );
            res.destroy();
            return;
          }
          buf.set(piece, got);
          h.update(piece);
          got += piece.length;
        });
        res.on("end", () => finish());
        const broke = (err: unknown) => {
          if (opts.signal?.aborted) return finish(opts.signal.reason);
          // The node stops mid-body when its own read-verification finds the stored copy corrupt.
          finish(
            new AppError(
              "TRUNCATED",
              `${nodeLabel(replica)} broke off chunk ${id.slice(0, 12)} after ${got} of ${size} bytes: ${describeCause(timedOut ? new TimeoutError("timed out") : err)}`,
            ),
          );
        };
        res.on("error", broke);
        res.on("aborted", () => broke(new Error("connection closed")));
        res.on("close", () => {
          if (!res.complete) broke(new Error("connection closed"));
        });
      });
      if (got !== size) throw short();
      const actual = h.digest("hex");
      if (actual !== id) {
        throw new AppError(
          "HASH_MISMATCH",
          `${nodeLabel(replica)} returned corrupt data for chunk ${id.slice(0, 12)} (SHA-256 ${actual.slice(0, 12)})`,
        );
      }
      return buf;
    } finally {
      tm.clear();
    }
  };

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
    this.raw.close();
  }

  /** fetchChunk over a raw connection (plain http): same contract and errors. */
  private async fetchRaw(
    replica: NodeRef,
    url: URL,
    token: string,
    id: string,
    size: number,
    opts: ChunkRequestOptions,
  ): Promise<Uint8Array> {
    const what = `GET chunk ${id.slice(0, 12)}`;
    const tm = this.timer(opts);
    let destroy: ((e: Error) => void) | null = null;
    const onAbort = () => destroy?.(opts.signal!.reason instanceof Error ? opts.signal!.reason : new Error("aborted"));
    opts.signal?.throwIfAborted();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    let res;
    try {
      res = await this.raw.get(url, token, size, opts.into, MAX_SMALL_BODY, (d) => {
        destroy = d;
        tm.arm(d);
      });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (err instanceof RawProtocolError) {
        if (err.kind === "too-short") {
          throw new AppError(
            "TRUNCATED",
            `${nodeLabel(replica)} sent ${err.length} of ${size} bytes of chunk ${id.slice(0, 12)}`,
          );
        }
        if (err.kind === "too-long" || err.kind === "no-length") {
          throw new AppError(
            "HASH_MISMATCH",
            `${nodeLabel(replica)} sent more than the ${size} bytes of chunk ${id.slice(0, 12)} (${err.message})`,
          );
        }
        throw new AppError("INTERNAL", `${nodeLabel(replica)}: ${what}: ${err.message}`);
      }
      const cause = err instanceof RawGetError ? err.cause : err;
      const received = err instanceof RawGetError ? err.received : 0;
      if (received === 0) throw this.unreachable(replica, cause, opts.signal);
      // The node stops mid-body when its own read-verification finds the stored copy corrupt.
      throw new AppError(
        "TRUNCATED",
        `${nodeLabel(replica)} broke off chunk ${id.slice(0, 12)}: ${describeCause(cause)}`,
      );
    } finally {
      tm.clear();
      opts.signal?.removeEventListener("abort", onAbort);
    }
    if (res.status < 200 || res.status >= 300) {
      const text = Buffer.from(res.body.buffer, res.body.byteOffset, res.body.length).toString("utf8");
      throw withNode(replica, errorFromStatus(res.status, res.statusText, text, what));
    }
    const actual = createHash("sha256").update(res.body).digest("hex");
    if (actual !== id) {
      throw new AppError(
        "HASH_MISMATCH",
        `${nodeLabel(replica)} returned corrupt data for chunk ${id.slice(0, 12)} (SHA-256 ${actual.slice(0, 12)})`,
      );
    }
    return res.body;
  }
}

export function createHttpChunkIo(opts: HttpChunkIoOptions = {}): HttpChunkIo {
  return new HttpChunkIo(opts);
}
