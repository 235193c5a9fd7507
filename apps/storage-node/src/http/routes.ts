import type { IncomingMessage, ServerResponse } from "node:http";
import { finished, pipeline } from "node:stream";
import type { Logger } from "pino";
import { AppError } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES, ZChunkId } from "@cumulus/protocol/ids";
import {
  HEADER_CHUNK_SIZE,
  type CapabilityClaims,
  type InventoryPage,
  type PutChunkResponse,
} from "@cumulus/protocol/node-api";
import {
  bearerToken,
  parseContentLength,
  parseRange,
  parseRequestUrl,
  sendError,
  sendJson,
  toAppError,
} from "../protocol/http.ts";
import { authorizeToken, chunkNotStored, putChunk, type Authorized, type ChunkApiDeps } from "../service/chunk-api.ts";
import { PUT_BATCH_PATH } from "@cumulus/protocol/chunk-batch";
import { putChunkBatch } from "../service/chunk-batch.ts";
import { readReplicateBatchRequest, readReplicateRequest, type Replicator } from "../replication/replicator.ts";
import { ChunkStreamSource, readChunkStreamRequest } from "../replication/stream-source.ts";
import { CHUNK_STREAM_PATH } from "@cumulus/protocol/chunk-stream";

export interface ApiDeps extends ChunkApiDeps {
  log: Logger;
  /** Node-to-node copies for the reconciler (POST /replicate); absent: 404. */
  replicator?: Replicator;
}

const CHUNK_PREFIX = "/chunks/";
const INVENTORY_DEFAULT_LIMIT = 1000;
const INVENTORY_MAX_LIMIT = 10_000;
const CHUNK_ID_RE = /^[0-9a-f]{64}$/;
/** Idle read buffers kept for reuse (4 MiB each); more concurrent GETs allocate. */
const READ_BUFFERS_KEPT = 16;

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams | null;
  /** The client sent `Expect: 100-continue`: it waits for our go before sending a body. */
  expectContinue: boolean;
  route: string;
}

/** The data API. Each handler either writes a response or throws an AppError. */
export class DataApi {
  private readonly d: ApiDeps;
  /** Whole-chunk read buffers (MAX_CHUNK_BYTES each), reused across GETs. */
  private readonly readBuffers: Buffer[] = [];
  private readonly streamSource: ChunkStreamSource;

  constructor(deps: ApiDeps) {
    this.d = deps;
    this.streamSource = new ChunkStreamSource({ store: deps.store, metrics: deps.metrics });
  }

  async handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const { path, query } = parseRequestUrl(req.url);
    const ctx: Ctx = { req, res, query, expectContinue, route: "unknown" };
    const started = process.hrtime.bigint();
    try {
      // Browsers (the web UI uploads and reads chunks directly) need CORS on every answer,
      // errors included, so they can read the error body.
      setCorsHeaders(res);
      if (req.method === "OPTIONS") {
        ctx.route = "preflight";
        return preflight(req, res);
      }
      await this.route(ctx, req.method ?? "GET", path);
    } catch (err) {
      const appErr = toAppError(err);
      if (appErr.code === "INTERNAL" && appErr !== err) {
        this.d.log.error({ err, method: req.method, path, route: ctx.route }, "request failed");
      }
      if (appErr.code === "UNAVAILABLE" && appErr.details && "failedNodeId" in appErr.details) {
        this.d.metrics.pipelineFailures += 1;
      }
      sendError(res, appErr, { closeConnection: !req.complete });
    } finally {
      this.d.metrics.countRequest(ctx.route, res.statusCode);
      if (this.d.log.isLevelEnabled("debug")) {
        // Never the query string: it may carry a capability token.
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        this.d.log.debug({ method: req.method, path, status: res.statusCode, ms }, "request");
      }
    }
  }

  private async route(ctx: Ctx, method: string, path: string): Promise<void> {
    if (path === PUT_BATCH_PATH) {
      ctx.route = "put_chunk_batch";
      if (method !== "POST") return methodNotAllowed(ctx, "POST");
      const out = await putChunkBatch(
        this.d,
        ctx.req as AsyncIterable<Buffer>,
        parseContentLength(ctx.req.headers["content-length"]),
        ctx.req.socket.remoteAddress,
      );
      return sendJson(ctx.res, 200, out);
    }
    if (path.startsWith(CHUNK_PREFIX)) {
      const id = path.slice(CHUNK_PREFIX.length);
      ctx.route = "chunk";
      if (!CHUNK_ID_RE.test(id)) {
        const problem = ZChunkId.safeParse(id).error?.issues[0]?.message ?? "invalid chunk id";
        throw new AppError("BAD_REQUEST", `invalid chunk id ${JSON.stringify(id.slice(0, 80))}: ${problem}`);
      }
      switch (method) {
        case "PUT":
          ctx.route = "put_chunk";
          return this.putChunk(ctx, id);
        case "GET":
        case "HEAD":
          ctx.route = method === "GET" ? "get_chunk" : "head_chunk";
          return this.getChunk(ctx, id, method === "HEAD");
        case "DELETE":
          ctx.route = "delete_chunk";
          return this.deleteChunk(ctx, id);
        default:
          return methodNotAllowed(ctx, "GET, HEAD, PUT, DELETE");
      }
    }
    switch (path) {
      case "/health":
        ctx.route = "health";
        if (method !== "GET" && method !== "HEAD") return methodNotAllowed(ctx, "GET, HEAD");
        return this.health(ctx);
      case "/metrics":
        ctx.route = "metrics";
        if (method !== "GET") return methodNotAllowed(ctx, "GET");
        ctx.res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        ctx.res.end(this.d.metrics.render(this.d.store.usage()));
        return;
      case "/inventory":
        ctx.route = "inventory";
        if (method !== "GET") return methodNotAllowed(ctx, "GET");
        return this.inventory(ctx);
      case "/replicate":
        ctx.route = "replicate";
        if (method !== "POST") return methodNotAllowed(ctx, "POST");
        return this.replicate(ctx);
      case "/replicate/batch":
        ctx.route = "replicate_batch";
        if (method !== "POST") return methodNotAllowed(ctx, "POST");
        return this.replicateBatch(ctx);
      case CHUNK_STREAM_PATH:
        ctx.route = "replicate_read";
        if (method !== "POST") return methodNotAllowed(ctx, "POST");
        return this.chunkStream(ctx);
      default:
        throw new AppError("NOT_FOUND", `no route ${method} ${path}`);
    }
  }

  private async authorize(
    ctx: Ctx,
    op: CapabilityClaims["op"],
    chunk: string | undefined,
    allowQueryToken: boolean,
  ): Promise<Authorized & { token: string }> {
    const token = bearerToken(ctx.req, ctx.query, allowQueryToken);
    const auth = await authorizeToken(this.d, token, {
      op,
      ...(chunk !== undefined ? { chunk } : {}),
      remoteAddress: ctx.req.socket.remoteAddress,
    });
    return { ...auth, token: token ?? "" };
  }

  private async putChunk(ctx: Ctx, id: string): Promise<void> {
    const { req, res } = ctx;
    const { claims, token, nodeId, epoch } = await this.authorize(ctx, "write", id, false);
    const size = parseContentLength(req.headers["content-length"]);
    if (size === null) {
      throw new AppError(
        "BAD_REQUEST",
        "PUT /chunks/:id needs a Content-Length header (chunked uploads are not accepted)",
      );
    }
    const { receipts, created } = await putChunk(this.d, {
      id,
      size,
      token,
      claims,
      nodeId,
      epoch,
      body: req as AsyncIterable<Buffer>,
      transport: "http",
      ...(ctx.expectContinue ? { onFirstRead: () => res.writeContinue() } : {}),
    });
    const out: PutChunkResponse = { chunk: id, size, receipts };
    if (created) this.d.log.debug({ chunk: id, size }, "chunk stored");
    sendJson(res, 201, out);
  }

  private async getChunk(ctx: Ctx, id: string, head: boolean): Promise<void> {
    await this.authorize(ctx, "read", id, true);
    const handle = await this.d.store.open(id);
    if (handle === null) throw chunkNotStored(id, this.d.state.name);
    const { res } = ctx;
    const size = handle.size;
    const headers: Record<string, string | number> = {
      "content-type": "application/octet-stream",
      "accept-ranges": "bytes",
      // Content-addressed: the id is a perfect validator.
      etag: `"${id}"`,
      [HEADER_CHUNK_SIZE]: size,
    };
    const range = head ? ({ kind: "none" } as const) : parseRange(ctx.req.headers.range, size);
    if (head || range.kind === "unsatisfiable") {
      await handle.close();
      if (head) {
        res.writeHead(200, { ...headers, "content-length": size });
        res.end();
        return;
      }
      return sendError(
        res,
        new AppError("BAD_REQUEST", `range ${ctx.req.headers.range} is not satisfiable: chunk ${id} has ${size} bytes`),
        { status: 416, headers: { "content-range": `bytes */${size}` } },
      );
    }
    const metrics = this.d.metrics;
    if (range.kind === "none") {
      // Whole chunk: one read into a reused buffer, verified before a byte is sent, one
      // socket write. Streaming it through a hashing Transform cost several allocations
      // per chunk and most of a node's CPU on downloads (docs/benchmarks.md).
      const pooled = this.readBuffers.pop() ?? Buffer.allocUnsafeSlow(MAX_CHUNK_BYTES);
      let buf: Buffer;
      try {
        buf = await handle.readVerified(pooled);
      } catch (err) {
        if (this.readBuffers.length < READ_BUFFERS_KEPT) this.readBuffers.push(pooled);
        throw err;
      }
      res.writeHead(200, { ...headers, "content-length": size });
      metrics.bytesOut += size;
      await new Promise<void>((resolve) => {
        // Only a finished response has certainly handed the buffer to the kernel; after a
        // broken connection the buffer is left to the garbage collector, never reused.
        res.once("finish", () => {
          if (this.readBuffers.length < READ_BUFFERS_KEPT) this.readBuffers.push(pooled);
        });
        finished(res, () => resolve());
        res.end(buf);
      });
      return;
    }
    const stream = await handle.readRange(range.start, range.end);
    res.writeHead(206, {
      ...headers,
      "content-length": range.end - range.start + 1,
      "content-range": `bytes ${range.start}-${range.end}/${size}`,
    });
    stream.on("data", (b: Buffer) => {
      metrics.bytesOut += b.length;
    });
    await new Promise<void>((resolve) => {
      pipeline(stream, res, (err) => {
        if (err && !res.destroyed) res.destroy(err);
        resolve();
      });
    });
  }

  private async deleteChunk(ctx: Ctx, id: string): Promise<void> {
    const { claims } = await this.authorize(ctx, "delete", id, false);
    const outcome = await this.d.store.deleteIf(
      id,
      claims.ifUnmodifiedSince !== undefined ? { ifUnmodifiedSince: claims.ifUnmodifiedSince } : {},
    );
    if (outcome === "absent") throw chunkNotStored(id, this.d.state.name);
    if (outcome === "modified") {
      throw new AppError(
        "CONFLICT",
        `chunk ${id} on storage node ${this.d.state.name} was written after the delete was decided; kept`,
      );
    }
    ctx.res.writeHead(204);
    ctx.res.end();
  }

  private async replicate(ctx: Ctx): Promise<void> {
    if (!this.d.replicator) throw new AppError("NOT_FOUND", "this storage node does not replicate");
    const body = await readReplicateRequest(ctx.req);
    const { claims, nodeId, epoch } = await this.authorize(ctx, "replicate", body.chunk, false);
    sendJson(ctx.res, 200, await this.d.replicator.replicate(claims, body, nodeId, epoch));
  }

  private async replicateBatch(ctx: Ctx): Promise<void> {
    if (!this.d.replicator) throw new AppError("NOT_FOUND", "this storage node does not replicate");
    const body = await readReplicateBatchRequest(ctx.req);
    // Every chunk of the batch is checked against the capability by the replicator.
    const { claims, nodeId, epoch } = await this.authorize(ctx, "replicate", undefined, false);
    sendJson(ctx.res, 200, await this.d.replicator.replicateBatch(claims, body, nodeId, epoch));
  }

  /** The source side of a repair copy: a batch of chunks as one framed stream. */
  private async chunkStream(ctx: Ctx): Promise<void> {
    const body = await readChunkStreamRequest(ctx.req);
    const { claims } = await this.authorize(ctx, "read", undefined, false);
    ChunkStreamSource.authorize(claims, body);
    await this.streamSource.serve(body, ctx.res);
  }

  private async inventory(ctx: Ctx): Promise<void> {
    await this.authorize(ctx, "inventory", undefined, true);
    const cursor = ctx.query?.get("cursor") || null;
    if (cursor !== null && !CHUNK_ID_RE.test(cursor)) throw new AppError("BAD_REQUEST", "invalid inventory cursor");
    const limitRaw = ctx.query?.get("limit");
    const limit = limitRaw ? Number(limitRaw) : INVENTORY_DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > INVENTORY_MAX_LIMIT) {
      throw new AppError("BAD_REQUEST", `limit must be an integer from 1 to ${INVENTORY_MAX_LIMIT}`);
    }
    const rows = await this.d.store.list(cursor, limit + 1);
    const page = rows.slice(0, limit);
    const body: InventoryPage = {
      chunks: page,
      next: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null,
    };
    sendJson(ctx.res, 200, body);
  }

  private health(ctx: Ctx): void {
    const s = this.d.state;
    sendJson(ctx.res, 200, {
      ok: s.active() !== null,
      nodeId: s.nodeId,
      name: s.name,
      site: s.site,
      epoch: s.epoch,
      usage: this.d.store.usage(),
    });
  }
}

/**
 * CORS: any origin may call the data API, because it never relies on cookies or other
 * ambient credentials — every call carries a capability token the control plane signed
 * in its Authorization header (so `*` is safe, and credentials are never allowed).
 */
export const CORS_ALLOW_METHODS = "GET, HEAD, PUT, OPTIONS";
export const CORS_ALLOW_HEADERS = `authorization, content-type, range, ${HEADER_CHUNK_SIZE}`;
export const CORS_EXPOSE_HEADERS = `content-length, content-range, accept-ranges, etag, ${HEADER_CHUNK_SIZE}`;
const CORS_MAX_AGE_S = 600;

function setCorsHeaders(res: ServerResponse): void {
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-expose-headers", CORS_EXPOSE_HEADERS);
}

/** Answers a CORS preflight (OPTIONS) for any path: what the browser may send here. */
function preflight(req: IncomingMessage, res: ServerResponse): void {
  const headers: Record<string, string> = {
    "access-control-allow-methods": CORS_ALLOW_METHODS,
    "access-control-allow-headers": CORS_ALLOW_HEADERS,
    "access-control-max-age": String(CORS_MAX_AGE_S),
    "content-length": "0",
    vary: "origin, access-control-request-method, access-control-request-headers",
  };
  // Chrome's Private Network Access: a page on a public address reaching a node on a private one.
  if (req.headers["access-control-request-private-network"] === "true") {
    headers["access-control-allow-private-network"] = "true";
  }
  res.writeHead(204, headers);
  res.end();
}

function methodNotAllowed(ctx: Ctx, allow: string): void {
  sendError(ctx.res, new AppError("BAD_REQUEST", `method ${ctx.req.method} is not allowed here (allowed: ${allow})`), {
    status: 405,
    headers: { allow },
    closeConnection: !ctx.req.complete,
  });
}
