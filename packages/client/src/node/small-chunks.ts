// Node-only: small chunk PUTs that overlap in time and go to the same first node travel as
// one POST /chunks/batch (packages/protocol chunk-batch.ts), Nagle-style like batching.ts:
// the first goes out on the next tick, those that arrive while a batch to that node is in
// flight wait and go together in the next one. A run of small files (the sync agent uploads
// 64 side by side) then costs the nodes one request, one token check per token and one
// directory fsync per batch instead of per chunk. Each caller still gets its own receipts or
// its own AppError, exactly as from putChunk. Big chunks, a lone chunk, and nodes without
// the route (404, remembered) go by plain PUT.
import http from "node:http";
import https from "node:https";
import {
  MAX_PUT_BATCH_BYTES,
  MAX_PUT_BATCH_CHUNK,
  MAX_PUT_BATCH_ITEMS,
  PUT_BATCH_PATH,
  ZPutChunkBatchResponse,
  encodePutBatchHead,
} from "@cumulus/protocol/chunk-batch";
import { AppError } from "@cumulus/protocol/errors";
import type { ChunkIo, ChunkRequestOptions, NodeRef } from "../chunks.ts";
import { describeCause, errorFromStatus, joinUrl, type FetchFn } from "../http.ts";

const DEFAULT_TIMEOUT_MS = 120_000;
/** Batches in flight to one node at once: one being stored while the next fills. */
const IN_FLIGHT_PER_NODE = 2;

interface Waiter {
  first: NodeRef;
  token: string;
  id: string;
  data: Uint8Array;
  opts: ChunkRequestOptions;
  resolve(receipts: string[]): void;
  reject(err: unknown): void;
}

function nodeLabel(n: NodeRef): string {
  return `storage node ${n.node} (${n.site})`;
}

class NodeQueue {
  queue: Waiter[] = [];
  inFlight = 0;
  scheduled = false;
}

/** Wraps a chunk transport so that its small PUTs go in batches; GETs pass through. */
export class SmallChunkBatcher implements ChunkIo {
  private readonly inner: ChunkIo & { close?(): void };
  private readonly queues = new Map<string, NodeQueue>();
  private readonly unsupported = new Set<string>();
  private readonly agents = new Map<string, http.Agent>();

  constructor(inner: ChunkIo & { close?(): void }) {
    this.inner = inner;
  }

  fetchChunk: ChunkIo["fetchChunk"] = (...args) => this.inner.fetchChunk(...args);

  putChunk = (
    fetchFn: FetchFn,
    first: NodeRef,
    token: string,
    id: string,
    data: Uint8Array,
    opts: ChunkRequestOptions = {},
  ): Promise<string[]> => {
    if (data.length > MAX_PUT_BATCH_CHUNK || this.unsupported.has(first.url))
      return this.inner.putChunk(fetchFn, first, token, id, data, opts);
    opts.signal?.throwIfAborted();
    let q = this.queues.get(first.url);
    if (!q) this.queues.set(first.url, (q = new NodeQueue()));
    const queue = q;
    return new Promise<string[]>((resolve, reject) => {
      // A caller that gives up is answered at once, even while its batch is in flight for
      // the others (the chunk may still be stored: harmless, it is content-addressed).
      const signal = opts.signal;
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener("abort", onAbort);
          fn(v);
        };
      queue.queue.push({ first, token, id, data, opts, resolve: settle(resolve), reject: settle(reject) });
      this.schedule(first.url, queue, fetchFn);
    });
  };

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
    this.inner.close?.();
  }

  private schedule(url: string, q: NodeQueue, fetchFn: FetchFn): void {
    if (q.scheduled || q.inFlight >= IN_FLIGHT_PER_NODE || q.queue.length === 0) return;
    q.scheduled = true;
    setImmediate(() => {
      q.scheduled = false;
      void this.flush(url, q, fetchFn);
    });
  }

  private async flush(url: string, q: NodeQueue, fetchFn: FetchFn): Promise<void> {
    // One chunk id once per batch (two small files with the same bytes): the duplicate
    // waits for the next batch, where the node finds the chunk already stored.
    const batch: Waiter[] = [];
    const rest: Waiter[] = [];
    const ids = new Set<string>();
    let bytes = 0;
    for (const w of q.queue) {
      if (w.opts.signal?.aborted) {
        w.reject(w.opts.signal.reason);
        continue;
      }
      if (batch.length < MAX_PUT_BATCH_ITEMS && !ids.has(w.id) && bytes + w.data.length <= MAX_PUT_BATCH_BYTES) {
        batch.push(w);
        ids.add(w.id);
        bytes += w.data.length;
      } else rest.push(w);
    }
    q.queue = rest;
    if (batch.length === 0) return;
    q.inFlight++;
    try {
      if (batch.length === 1 || this.unsupported.has(url)) {
        await Promise.all(
          batch.map((w) =>
            this.inner.putChunk(fetchFn, w.first, w.token, w.id, w.data, w.opts).then(w.resolve, w.reject),
          ),
        );
        return;
      }
      await this.send(batch, fetchFn);
    } finally {
      q.inFlight--;
      this.schedule(url, q, fetchFn);
    }
  }

  private async send(batch: Waiter[], fetchFn: FetchFn): Promise<void> {
    const first = batch[0]!.first;
    const tokens = [...new Set(batch.map((w) => w.token))];
    const head = encodePutBatchHead({
      tokens,
      items: batch.map((w) => ({ id: w.id, size: w.data.length, token: tokens.indexOf(w.token) })),
    });
    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.post(first, head, batch));
    } catch (err) {
      const e =
        err instanceof Error && err.name === "TimeoutError"
          ? new AppError("UNAVAILABLE", `${nodeLabel(first)} at ${first.url} timed out`)
          : new AppError("UNAVAILABLE", `cannot reach ${nodeLabel(first)} at ${first.url}: ${describeCause(err)}`);
      for (const w of batch) w.reject(w.opts.signal?.aborted ? w.opts.signal.reason : e);
      return;
    }
    if (status === 404 || status === 405) {
      // A node of an older version: plain PUTs to it from now on.
      this.unsupported.add(first.url);
      await Promise.all(
        batch.map((w) =>
          this.inner.putChunk(fetchFn, w.first, w.token, w.id, w.data, w.opts).then(w.resolve, w.reject),
        ),
      );
      return;
    }
    if (status !== 200) {
      const e = errorFromStatus(status, undefined, text, `PUT ${batch.length} chunks`);
      const err = e.message.includes(first.node)
        ? e
        : new AppError(e.code, `${nodeLabel(first)}: ${e.message}`, e.details);
      for (const w of batch) w.reject(err);
      return;
    }
    let parsed: ReturnType<typeof ZPutChunkBatchResponse.safeParse>;
    try {
      parsed = ZPutChunkBatchResponse.safeParse(JSON.parse(text));
    } catch {
      parsed = ZPutChunkBatchResponse.safeParse(null);
    }
    if (!parsed.success || parsed.data.results.length !== batch.length) {
      const e = new AppError("INTERNAL", `${nodeLabel(first)}: PUT ${batch.length} chunks: unexpected response`);
      for (const w of batch) w.reject(e);
      return;
    }
    parsed.data.results.forEach((r, i) => {
      const w = batch[i]!;
      if (r.chunk !== w.id || (r.ok && r.size !== w.data.length)) {
        w.reject(
          new AppError(
            "INTERNAL",
            `${nodeLabel(first)} answered for chunk ${r.chunk.slice(0, 12)} in place of ${w.id.slice(0, 12)}`,
          ),
        );
      } else if (r.ok) w.resolve(r.receipts);
      else {
        const msg = r.message.includes(first.node) ? r.message : `${nodeLabel(first)}: ${r.message}`;
        w.reject(
          AppError.fromBody({ error: { code: r.code, message: msg, ...(r.details ? { details: r.details } : {}) } }),
        );
      }
    });
  }

  private agentFor(url: URL): http.Agent {
    let a = this.agents.get(url.origin);
    if (!a) {
      const o = { keepAlive: true, maxSockets: IN_FLIGHT_PER_NODE };
      a = url.protocol === "https:" ? new https.Agent(o) : new http.Agent(o);
      this.agents.set(url.origin, a);
    }
    return a;
  }

  private post(first: NodeRef, head: Uint8Array, batch: readonly Waiter[]): Promise<{ status: number; text: string }> {
    const url = new URL(joinUrl(first.url, PUT_BATCH_PATH.slice(1)));
    const length = head.length + batch.reduce((s, w) => s + w.data.length, 0);
    const timeoutMs = Math.max(...batch.map((w) => w.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    const signals = batch.map((w) => w.opts.signal).filter((s): s is AbortSignal => s !== undefined);
    return new Promise((resolve, reject) => {
      const req = (url.protocol === "https:" ? https : http).request(url, {
        method: "POST",
        agent: this.agentFor(url),
        headers: { "content-type": "application/octet-stream", "content-length": String(length) },
      });
      const timer = setTimeout(() => {
        const e = new Error(`timed out after ${timeoutMs} ms`);
        e.name = "TimeoutError";
        req.destroy(e);
      }, timeoutMs);
      // The batch is abandoned only when every caller in it gave up.
      const onAbort = () => {
        if (signals.length === batch.length && signals.every((s) => s.aborted)) req.destroy(new Error("aborted"));
      };
      for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        for (const s of signals) s.removeEventListener("abort", onAbort);
      };
      req.on("error", (err) => {
        done();
        reject(err);
      });
      req.on("response", (res) => {
        const parts: Buffer[] = [];
        res.on("data", (b: Buffer) => parts.push(b));
        res.on("end", () => {
          done();
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") });
        });
        res.on("error", (err) => {
          done();
          reject(err);
        });
      });
      req.write(head);
      for (const w of batch) req.write(w.data);
      req.end();
    });
  }
}
