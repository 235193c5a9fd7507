import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import { liveReplicas, type LiveReplica } from "../fs/replicas.ts";
import { readBatches, signCapability } from "../capabilities/tokens.ts";
import type { ByteRange } from "./http.ts";

export type FetchFn = (input: string | URL, init?: RequestInit) => Promise<Response>;

export type ChunkSourceOptions = {
  /** The gateway's site: replicas there are read first. */
  site?: string | null;
  /** Subject of the read capabilities (for the nodes' logs): "user:<id>", "link:<id>". */
  sub: string;
  fetch?: FetchFn;
  /** Per request to a node (idle time for node:http; whole request for an injected fetch). */
  timeoutMs?: number;
  now?: () => number;
};

/** Same site first; within a group a per-chunk hash order spreads reads over the replicas. */
export function nearestFirst(chunkId: string, replicas: readonly LiveReplica[], site: string | null): LiveReplica[] {
  const keyed = replicas.map((r) => ({
    r,
    near: site !== null && r.site === site ? 0 : 1,
    score: createHash("sha256").update(`${chunkId}:${r.nodeId}`).digest().readUInt32BE(0),
  }));
  keyed.sort((a, b) => a.near - b.near || a.score - b.score);
  return keyed.map((k) => k.r);
}

type Batch = { chunks: string[]; aud: string[]; token: Promise<string> | null; signedAt: number };

/**
 * Reads chunks of a set of files from the storage nodes on the server side: replicas
 * nearest first, the next replica on any error, read capabilities signed lazily per batch
 * (and again once half their lifetime has passed, so a long download never presents an
 * expired token). A whole chunk is checked against its SHA-256 before a byte of it is
 * handed out; a partial chunk is read with a node Range request, which the node serves
 * only after verifying the stored chunk against its id (length is checked here).
 */
export class ChunkSource {
  private readonly ctx: ControlContext;
  private readonly replicas: Map<string, LiveReplica[]>;
  private readonly batchOf = new Map<string, Batch>();
  private readonly opts: ChunkSourceOptions;
  private readonly fetchFn: FetchFn;

  private constructor(ctx: ControlContext, replicas: Map<string, LiveReplica[]>, opts: ChunkSourceOptions) {
    this.ctx = ctx;
    this.replicas = replicas;
    this.opts = opts;
    this.fetchFn = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    for (const b of readBatches([...replicas.keys()], (id) => replicas.get(id)!.map((r) => r.nodeId))) {
      const batch: Batch = { ...b, token: null, signedAt: 0 };
      for (const id of b.chunks) this.batchOf.set(id, batch);
    }
  }

  /** Looks up live replicas of `chunkIds`; UNAVAILABLE when one has none (`what` names the content). */
  static async create(
    ctx: ControlContext,
    chunkIds: readonly string[],
    what: string,
    opts: ChunkSourceOptions,
  ): Promise<ChunkSource> {
    const unique = [...new Set(chunkIds)];
    const live = await liveReplicas(ctx.prisma, ctx.config, unique);
    const missing = unique.filter((id) => !live.get(id)?.length);
    if (missing.length > 0) {
      throw new AppError(
        "UNAVAILABLE",
        `${missing.length} of ${unique.length} chunks of ${what} have no live replica: the storage nodes holding them are down; try again when they are back`,
        { unreachableChunks: missing.slice(0, 100) },
      );
    }
    const site = opts.site?.trim() || null;
    const ordered = new Map<string, LiveReplica[]>();
    for (const id of unique) ordered.set(id, nearestFirst(id, live.get(id)!, site));
    return new ChunkSource(ctx, ordered, opts);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private token(chunkId: string, fresh = false): Promise<string> {
    const batch = this.batchOf.get(chunkId);
    if (!batch) throw new AppError("INTERNAL", `chunk ${chunkId} is not part of this download`);
    const halfLife = (this.ctx.config.capabilityTtlSeconds * 1000) / 2;
    if (fresh || !batch.token || this.now() - batch.signedAt > halfLife) {
      batch.signedAt = this.now();
      batch.token = signCapability(
        this.ctx,
        { op: "read", aud: batch.aud, chunks: batch.chunks, sub: this.opts.sub },
        batch.signedAt,
      ).then((t) => t.token);
      batch.token.catch(() => {
        batch.token = null;
      });
    }
    return batch.token;
  }

  /**
   * Bytes `range` (inclusive, relative to the chunk; default all) of chunk `id` of
   * `size` bytes, from the first replica that delivers them intact.
   */
  async read(id: string, size: number, range: ByteRange | null, signal?: AbortSignal): Promise<Buffer> {
    const replicas = this.replicas.get(id);
    if (!replicas) throw new AppError("INTERNAL", `chunk ${id} is not part of this download`);
    const whole = range === null || (range.start === 0 && range.end === size - 1);
    const problems: string[] = [];
    for (const r of replicas) {
      signal?.throwIfAborted();
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const token = await this.token(id, attempt > 0);
          return await this.readFrom(r, id, size, whole ? null : range, token, signal);
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          const e = err instanceof AppError ? err : new AppError("UNAVAILABLE", describe(err));
          // An expired token is the only failure the same replica gets a second chance for.
          if (e.code === "TOKEN_EXPIRED" && attempt === 0) continue;
          problems.push(`${r.node} (${r.site}): ${e.message}`);
          this.ctx.log.warn(
            { chunk: id, node: r.node, code: e.code, err: e.message },
            "gateway: replica read failed, trying the next replica",
          );
          break;
        }
      }
    }
    throw new AppError("UNAVAILABLE", `no replica of chunk ${id.slice(0, 12)} could be read: ${problems.join("; ")}`, {
      chunk: id,
    });
  }

  private async readFrom(
    r: LiveReplica,
    id: string,
    size: number,
    range: ByteRange | null,
    token: string,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const url = new URL(`chunks/${id}`, r.url.endsWith("/") ? r.url : `${r.url}/`);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (range) headers.range = `bytes=${range.start}-${range.end}`;
    const expected = range ? range.end - range.start + 1 : size;
    const buf = this.opts.fetch
      ? await this.readWithFetch(url, headers, expected, range !== null, signal)
      : await readWithHttp(url, headers, expected, range !== null, this.opts.timeoutMs ?? 60_000, signal);
    if (buf.length !== expected) {
      throw new AppError("TRUNCATED", `sent ${buf.length} of ${expected} bytes`);
    }
    if (!range) {
      const actual = createHash("sha256").update(buf).digest("hex");
      if (actual !== id) throw new AppError("HASH_MISMATCH", `returned corrupt data (SHA-256 ${actual.slice(0, 12)})`);
    }
    return buf;
  }

  private async readWithFetch(
    url: URL,
    headers: Record<string, string>,
    expected: number,
    partial: boolean,
    signal?: AbortSignal,
  ): Promise<Buffer> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs ?? 60_000);
    const res = await this.fetchFn(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (!res.ok) {
      let body: unknown = null;
      try {
        body = await res.json();
      } catch {
        // not a Cumulus error body
      }
      const e = AppError.fromBody(body, res.status);
      throw e.code === "INTERNAL" && !body ? new AppError("UNAVAILABLE", `HTTP ${res.status}`) : e;
    }
    if (partial && res.status !== 206) {
      void res.body?.cancel().catch(() => undefined);
      throw new AppError("UNAVAILABLE", `answered a range read with HTTP ${res.status}`);
    }
    return readAtMost(res, expected);
  }
}

// Keep-alive connections to the storage nodes, shared by every download of the process.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One GET to a storage node with node:http (several times cheaper than fetch's web
 * streams at gateway rates), reading at most `limit` bytes into one buffer.
 */
function readWithHttp(
  url: URL,
  headers: Record<string, string>,
  limit: number,
  partial: boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    signal?.throwIfAborted();
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.get(url, {
      headers,
      agent: url.protocol === "https:" ? httpsAgent : httpAgent,
      timeout: timeoutMs,
    });
    const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = (err: unknown, buf?: Buffer) => {
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(buf!);
    };
    req.on("timeout", () => req.destroy(new AppError("UNAVAILABLE", "timed out")));
    req.on("error", (err) => done(err instanceof AppError ? err : new AppError("UNAVAILABLE", describe(err))));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const parts: Buffer[] = [];
        res.on("data", (b: Buffer) => {
          if (parts.reduce((n, p) => n + p.length, 0) < 64 * 1024) parts.push(b);
        });
        res.on("end", () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(parts).toString("utf8"));
          } catch {
            // not a Cumulus error body
          }
          const e = AppError.fromBody(body, status);
          done(e.code === "INTERNAL" && !body ? new AppError("UNAVAILABLE", `HTTP ${status}`) : e);
        });
        res.on("error", () => done(new AppError("UNAVAILABLE", `HTTP ${status}`)));
        return;
      }
      if (partial && status !== 206) {
        res.destroy();
        done(new AppError("UNAVAILABLE", `answered a range read with HTTP ${status}`));
        return;
      }
      const out = Buffer.allocUnsafe(limit);
      let got = 0;
      let failed = false;
      res.on("data", (b: Buffer) => {
        if (failed) return;
        if (got + b.length > limit) {
          failed = true;
          res.destroy();
          done(new AppError("HASH_MISMATCH", `sent more than ${limit} bytes`));
          return;
        }
        b.copy(out, got);
        got += b.length;
      });
      res.on("end", () => {
        if (!failed) done(null, out.subarray(0, got));
      });
      // The node breaks a body off when its own read verification finds the stored copy corrupt.
      res.on("error", (err) => {
        if (!failed) done(new AppError("TRUNCATED", `broke off after ${got} of ${limit} bytes: ${describe(err)}`));
      });
      res.on("aborted", () => {
        if (!failed) done(new AppError("TRUNCATED", `broke off after ${got} of ${limit} bytes`));
      });
    });
  });
}

async function readAtMost(res: Response, limit: number): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(limit);
  let got = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > limit) throw new AppError("HASH_MISMATCH", `sent more than ${limit} bytes`);
      out.set(value, got);
      got += value.length;
    }
  } catch (err) {
    void reader.cancel().catch(() => undefined);
    if (err instanceof AppError) throw err;
    throw new AppError("TRUNCATED", `broke off after ${got} of ${limit} bytes: ${describe(err)}`);
  }
  return out.subarray(0, got);
}

function describe(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.message === "fetch failed" && e.cause !== undefined) e = e.cause;
  if (e instanceof Error) {
    if (e.name === "TimeoutError") return "timed out";
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
