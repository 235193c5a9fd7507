import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES } from "@cumulus/protocol/ids";
import {
  ZReplicateBatchRequest,
  ZReplicateRequest,
  type CapabilityClaims,
  type PipelineHop,
  type ReplicateBatchRequest,
  type ReplicateBatchResponse,
  type ReplicateBatchResult,
  type ReplicateRequest,
  type ReplicateResponse,
} from "@cumulus/protocol/node-api";
import { once, type ChunkStore, type StagedChunk } from "../store/chunk-store.ts";
import type { NodeIdentity } from "../store/identity.ts";
import type { Metrics } from "../service/metrics.ts";
import type { NodeState } from "../service/node-state.ts";
import { signReceipt } from "../service/signing.ts";
import type { ChunkTransport } from "./transport.ts";
import type { BufferPool } from "./stream-client.ts";

const MAX_BODY_BYTES = 32 * 1024;
const MAX_BATCH_BODY_BYTES = 64 * 1024;
/**
 * Chunks of one batch pulled at once: enough to keep the source's disk and the network
 * busy while one chunk is hashed; the reconciler bounds how many batches a node runs.
 */
const BATCH_PARALLEL = 4;
/** Whole-chunk receive buffers kept for reuse (MAX_CHUNK_BYTES each). */
const RECEIVE_BUFFERS_KEPT = 32;

export interface ReplicatorDeps {
  store: ChunkStore;
  state: NodeState;
  identity: NodeIdentity;
  transport: ChunkTransport;
  metrics: Metrics;
  log: Logger;
  /** Whole-copy deadline; the reconciler retries elsewhere after it. */
  copyTimeoutMs?: number;
}

/**
 * The target side of a reconciler copy (POST /replicate): pull the chunk from one of the
 * sources the capability names, verify it while storing it, and sign a receipt. Copies
 * are idempotent: a chunk already held (and still good) is only re-verified locally.
 */
export class Replicator {
  private readonly d: ReplicatorDeps;
  /** Whole-chunk receive buffers: a chunk lands in one, is hashed and written in one piece. */
  private readonly buffers: Buffer[] = [];
  /** Takes and gives back those buffers: for pullWhole and lent to chunk streams. */
  private readonly pool: BufferPool = {
    take: () => this.buffers.pop() ?? Buffer.allocUnsafeSlow(MAX_CHUNK_BYTES),
    give: (b) => {
      if (this.buffers.length < RECEIVE_BUFFERS_KEPT) this.buffers.push(b);
    },
  };
  copies = 0;
  bytesCopied = 0;

  constructor(deps: ReplicatorDeps) {
    this.d = deps;
  }

  async replicate(
    claims: CapabilityClaims,
    req: ReplicateRequest,
    nodeId: string,
    epoch: number,
  ): Promise<ReplicateResponse> {
    const { store, log } = this.d;
    const sources = (claims.sources ?? []).filter((s) => s.nodeId !== nodeId);
    const receipt = () => signReceipt(this.d.identity.privateKey, { nodeId, epoch, chunk: req.chunk, size: req.size });

    // Already here (an earlier copy whose receipt was lost, or an upload): verify, don't copy.
    const held = await store.open(req.chunk);
    if (held !== null) {
      if (held.size === req.size) {
        try {
          for await (const _ of held.readAll()) {
            // drained only to verify the hash
          }
          return { chunk: req.chunk, size: req.size, receipt: await receipt(), sourceNodeId: null, bytesCopied: 0 };
        } catch {
          // Corrupt: the store quarantined it; fetch a good copy below.
        }
      } else {
        await held.close();
      }
    }
    if (sources.length === 0) {
      throw new AppError("BAD_REQUEST", `the replicate capability names no source for chunk ${req.chunk}`);
    }

    const deadline = AbortSignal.timeout(this.d.copyTimeoutMs ?? 120_000);
    const { source } = await this.pull(req.chunk, req.size, sources, req.readToken, deadline, (id, body, size) =>
      store.put(id, body, size),
    );
    this.copies += 1;
    this.bytesCopied += req.size;
    log.debug({ chunk: req.chunk, size: req.size, source: source.nodeId }, "chunk replicated");
    return {
      chunk: req.chunk,
      size: req.size,
      receipt: await receipt(),
      sourceNodeId: source.nodeId,
      bytesCopied: req.size,
    };
  }

  /**
   * Pulls one chunk from the first of `sources` that delivers it whole and verified, into
   * `sink` (a put or a stage). Throws UNAVAILABLE when none could, DISK_FULL at once.
   */
  private async pull<T>(
    chunk: string,
    size: number,
    sources: readonly PipelineHop[],
    readToken: string,
    deadline: AbortSignal,
    sink: (id: string, body: AsyncIterable<Uint8Array>, size: number) => Promise<T>,
  ): Promise<{ source: PipelineHop; stored: T }> {
    const failures: string[] = [];
    for (const source of sources) {
      try {
        const whole = await this.pullWhole(source, chunk, size, readToken, deadline, sink);
        if (whole !== null) return { source, stored: whole.stored };
        const body = await this.d.transport.fetchChunk(source, chunk, size, readToken, deadline);
        const metrics = this.d.metrics;
        async function* counted(): AsyncGenerator<Uint8Array> {
          for await (const buf of body) {
            metrics.bytesIn += buf.byteLength;
            yield buf;
          }
        }
        return { source, stored: await sink(chunk, counted(), size) };
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError("UNAVAILABLE", String(err));
        // Our own disk is the problem: no other source can help.
        if (e.code === "DISK_FULL") throw e;
        failures.push(`${source.nodeId}: ${e.code}: ${e.message}`);
        this.d.log.warn({ chunk, source: source.nodeId, code: e.code, error: e.message }, "replication source failed");
        if (deadline.aborted) break;
      }
    }
    throw new AppError(
      "UNAVAILABLE",
      `could not copy chunk ${chunk} from any source (${failures.join("; ") || "deadline reached"})`,
      { failures: failures.slice(0, 16) },
    );
  }

  /**
   * One chunk received whole into a reused buffer, then handed to `sink` as one piece (one
   * hash update, one write): no per-read garbage. null when the transport cannot for this
   * source. A buffer is reused only after a complete answer: a failed connection may
   * still be writing into it.
   */
  private async pullWhole<T>(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    deadline: AbortSignal,
    sink: (id: string, body: AsyncIterable<Uint8Array>, size: number) => Promise<T>,
  ): Promise<{ stored: T } | null> {
    const transport = this.d.transport;
    if (!transport.fetchChunkInto) return null;
    const buf = this.pool.take();
    const body = await transport.fetchChunkInto(source, chunk, size, readToken, deadline, buf);
    try {
      if (body === null) return null;
      this.d.metrics.bytesIn += body.byteLength;
      return { stored: await sink(chunk, once(body), size) };
    } finally {
      this.pool.give(buf);
    }
  }

  /**
   * The target side of a batched copy (POST /replicate/batch): several chunks pulled at
   * once, each verified on arrival, then made durable together (grouped fsyncs) when the
   * store can; a receipt only for what is durable. One chunk failing does not fail the
   * others. The whole request is refused, with nothing done, when it asks for a chunk
   * the capability does not name or a source it does not sign.
   */
  async replicateBatch(
    claims: CapabilityClaims,
    req: ReplicateBatchRequest,
    nodeId: string,
    epoch: number,
  ): Promise<ReplicateBatchResponse> {
    const { store, log } = this.d;
    const signed = claims.sources ?? [];
    const covered = new Set(claims.chunks);
    const seen = new Set<string>();
    for (const it of req.items) {
      if (!covered.has(it.chunk)) throw new AppError("FORBIDDEN", `capability token does not cover chunk ${it.chunk}`);
      if (seen.has(it.chunk)) throw new AppError("BAD_REQUEST", `chunk ${it.chunk} is listed twice in the batch`);
      seen.add(it.chunk);
      const bad = it.sources.find((i) => i >= signed.length);
      if (bad !== undefined) {
        throw new AppError(
          "BAD_REQUEST",
          `chunk ${it.chunk} names source #${bad}, but the capability signs only ${signed.length} source(s)`,
        );
      }
    }
    const receiptOf = (chunk: string, size: number) =>
      signReceipt(this.d.identity.privateKey, { nodeId, epoch, chunk, size });
    const results: ReplicateBatchResult[] = new Array<ReplicateBatchResult>(req.items.length);
    const failed = (i: number, err: unknown) => {
      const e = err instanceof AppError ? err : new AppError("UNAVAILABLE", String(err));
      results[i] = { ok: false, chunk: req.items[i]!.chunk, code: e.code, message: e.message.slice(0, 4_000) };
    };
    const staged: { i: number; s: StagedChunk; source: PipelineHop }[] = [];
    const deadline = AbortSignal.timeout(this.d.copyTimeoutMs ?? 120_000);
    const canStage = typeof store.stage === "function" && typeof store.commitStaged === "function";

    // Indices with a result or a staged copy; the per-chunk path below takes the rest.
    // A chunk this node already holds intact costs no copy, only its receipt.
    const alreadyHeld = async (it: { chunk: string; size: number }) => ({
      ok: true as const,
      chunk: it.chunk,
      size: it.size,
      receipt: await receiptOf(it.chunk, it.size),
      sourceNodeId: null,
      bytesCopied: 0,
    });
    const handled = new Set<number>();
    const streams: Promise<void>[] = [];
    if (canStage && this.d.transport.streamChunks) {
      const groups = new Map<string, { source: PipelineHop; idx: number[] }>();
      for (const [i, it] of req.items.entries()) {
        try {
          if (await this.holdsGood(it.chunk, it.size)) {
            results[i] = await alreadyHeld(it);
            handled.add(i);
            continue;
          }
        } catch (err) {
          failed(i, err);
          handled.add(i);
          continue;
        }
        const first = it.sources.map((k) => signed[k]!).find((s) => s.nodeId !== nodeId);
        if (!first) continue;
        const g = groups.get(first.nodeId) ?? { source: first, idx: [] };
        g.idx.push(i);
        groups.set(first.nodeId, g);
      }
      for (const g of groups.values()) {
        const run = this.streamFrom(g.source, g.idx, req, deadline, {
          staged: (i, s) => {
            staged.push({ i, s, source: g.source });
            handled.add(i);
          },
          failed: (i, err) => {
            failed(i, err);
            handled.add(i);
          },
        });
        if (run) streams.push(run);
      }
    }

    let next = 0;
    const worker = async () => {
      for (let i = next++; i < req.items.length; i = next++) {
        if (handled.has(i)) continue;
        const it = req.items[i]!;
        try {
          if (await this.holdsGood(it.chunk, it.size)) {
            results[i] = await alreadyHeld(it);
            continue;
          }
          const sources = it.sources.map((k) => signed[k]!).filter((s) => s.nodeId !== nodeId);
          if (sources.length === 0) throw new AppError("BAD_REQUEST", `no source other than this node for ${it.chunk}`);
          if (canStage) {
            const { source, stored } = await this.pull(
              it.chunk,
              it.size,
              sources,
              req.readToken,
              deadline,
              (id, b, n) => store.stage!(id, b, n),
            );
            staged.push({ i, s: stored, source });
          } else {
            const { source } = await this.pull(it.chunk, it.size, sources, req.readToken, deadline, (id, b, n) =>
              store.put(id, b, n),
            );
            results[i] = {
              ok: true,
              chunk: it.chunk,
              size: it.size,
              receipt: await receiptOf(it.chunk, it.size),
              sourceNodeId: source.nodeId,
              bytesCopied: it.size,
            };
            this.copies += 1;
            this.bytesCopied += it.size;
          }
        } catch (err) {
          failed(i, err);
        }
      }
    };
    try {
      await Promise.all(streams);
      await Promise.all(Array.from({ length: Math.min(BATCH_PARALLEL, req.items.length) }, worker));
    } catch (err) {
      await store.discardStaged?.(staged.map((x) => x.s));
      throw err;
    }
    if (staged.length > 0) {
      const committed = await store.commitStaged!(staged.map((x) => x.s));
      for (const [k, x] of staged.entries()) {
        const r = committed[k]!;
        const it = req.items[x.i]!;
        if (r instanceof Error) {
          failed(x.i, r);
          continue;
        }
        this.copies += 1;
        this.bytesCopied += it.size;
        results[x.i] = {
          ok: true,
          chunk: it.chunk,
          size: it.size,
          receipt: await receiptOf(it.chunk, it.size),
          sourceNodeId: x.source.nodeId,
          bytesCopied: it.size,
        };
      }
    }
    const copied = results.filter((r) => r.ok && r.bytesCopied > 0).length;
    log.debug({ chunks: req.items.length, copied, failed: results.filter((r) => !r.ok).length }, "batch replicated");
    return { results };
  }

  /**
   * Streams the chunks `idx` of a batch from `source` in one request (see
   * fetchChunkStream), staging each as it arrives: the stage's hash check is the only one
   * (the source sends unhashed). Never rejects: a chunk the stream did not deliver
   * intact (an error frame, a hash mismatch, a broken stream) is left to the per-chunk
   * path, whose verified GET makes the source check its copy, quarantine and report it
   * when it is bad, and go on to another source. null when the transport cannot stream
   * from this source.
   */
  private streamFrom(
    source: PipelineHop,
    idx: readonly number[],
    req: ReplicateBatchRequest,
    deadline: AbortSignal,
    out: { staged: (i: number, s: StagedChunk) => void; failed: (i: number, err: unknown) => void },
  ): Promise<void> | null {
    const { store, log, metrics } = this.d;
    const items = idx.map((i) => ({ chunk: req.items[i]!.chunk, size: req.items[i]!.size }));
    const run = this.d.transport.streamChunks?.(source, items, req.readToken, deadline, this.pool, {
      onChunk: async (k, data) => {
        const i = idx[k]!;
        const it = items[k]!;
        metrics.bytesIn += data.byteLength;
        try {
          out.staged(i, await store.stage!(it.chunk, once(data), it.size));
        } catch (err) {
          const e = err instanceof AppError ? err : new AppError("INTERNAL", String(err));
          // Our own disk is the problem: no other source can help.
          if (e.code === "DISK_FULL") return out.failed(i, e);
          log.warn(
            { chunk: it.chunk, source: source.nodeId, code: e.code, error: e.message },
            "streamed chunk refused",
          );
        }
      },
      onError: (k, err) => {
        log.warn(
          { chunk: items[k]!.chunk, source: source.nodeId, code: err.code, error: err.message },
          "source could not stream a chunk",
        );
      },
    });
    if (!run) return null;
    return run.catch((err: unknown) => {
      const e = err instanceof AppError ? err : new AppError("UNAVAILABLE", String(err));
      log.warn(
        { source: source.nodeId, code: e.code, error: e.message },
        "chunk stream failed; the rest of its chunks go one by one",
      );
    });
  }

  /** A good copy already here (an earlier copy whose receipt was lost, or an upload)? */
  private async holdsGood(chunk: string, size: number): Promise<boolean> {
    const held = await this.d.store.open(chunk);
    if (held === null) return false;
    if (held.size !== size) {
      await held.close();
      return false;
    }
    try {
      for await (const _ of held.readAll()) {
        // drained only to verify the hash
      }
      return true;
    } catch {
      // Corrupt: the store quarantined it; fetch a good copy.
      return false;
    }
  }
}

/** Reads and parses the small JSON body of POST /replicate. */
export function readReplicateRequest(req: IncomingMessage): Promise<ReplicateRequest> {
  return readJsonBody(req, ZReplicateRequest, MAX_BODY_BYTES, "replicate request");
}

/** Reads and parses the JSON body of POST /replicate/batch. */
export function readReplicateBatchRequest(req: IncomingMessage): Promise<ReplicateBatchRequest> {
  return readJsonBody(req, ZReplicateBatchRequest, MAX_BATCH_BODY_BYTES, "replicate batch request");
}

export async function readJsonBody<T>(
  req: IncomingMessage,
  schema: z.ZodType<T>,
  maxBytes: number,
  what: string,
): Promise<T> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const buf of req as AsyncIterable<Buffer>) {
    total += buf.length;
    if (total > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `${what} over ${maxBytes} bytes`);
    parts.push(buf);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    throw new AppError("BAD_REQUEST", `${what} body is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new AppError("BAD_REQUEST", `invalid ${what}: ${i?.path.join(".")}: ${i?.message}`);
  }
  return parsed.data;
}
