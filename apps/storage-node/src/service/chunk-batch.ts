// POST /chunks/batch: several small chunks in one request (packages/protocol chunk-batch.ts
// has the frame format). Each chunk is checked against its capability, staged (written to a
// temp file and verified by hash as it arrives) with the store's staging for batched
// replicate copies, forwarded to the next hop of its pipeline as one batch per hop, and made
// durable together with the others: data fsyncs, then renames, then one fsync per touched
// directory. A chunk's receipts are answered only once it and its downstream copies are
// durable; a chunk that fails (bad hash, token, disk) gets its own error, a body cut short
// fails the whole request, and nothing unverified is ever stored or counted.
import http from "node:http";
import https from "node:https";
import type { IncomingMessage } from "node:http";
import { AppError } from "@cumulus/protocol/errors";
import {
  MAX_PUT_BATCH_BYTES,
  MAX_PUT_BATCH_HEADER,
  PUT_BATCH_PATH,
  ZPutChunkBatchHeader,
  ZPutChunkBatchResponse,
  encodePutBatchHead,
  type PutChunkBatchHeader,
  type PutChunkBatchResponse,
  type PutChunkBatchResult,
} from "@cumulus/protocol/chunk-batch";
import { ZPipelineFailureDetails, type CapabilityClaims, type PipelineHop } from "@cumulus/protocol/node-api";
import { once, type StagedChunk } from "../store/chunk-store.ts";
import { activeRegistration, authorizeToken, nextHop, type ChunkApiDeps } from "./chunk-api.ts";
import { signBatchReceipts } from "./signing.ts";

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/**
 * A batch to a hop of another site up to this size goes as one HTTP batch like a same-site
 * hop's; bigger ones go chunk by chunk over the WAN transport (UDT), which is there for bulk
 * throughput on long links. A run of small files sent chunk by chunk cost a UDT connection
 * per chunk on both ends — most of the receiving node's CPU — and a round trip each, where
 * one request carries them all.
 */
export const WAN_HTTP_BATCH_BYTES = 4 * 1024 * 1024;

type Failure = { ok: false; chunk: string; code: string; message: string; details?: Record<string, unknown> };

function failure(chunk: string, err: unknown): Failure {
  const e = err instanceof AppError ? err : new AppError("INTERNAL", "the chunk could not be stored");
  return {
    ok: false,
    chunk,
    code: e.code,
    message: e.message.slice(0, 4000),
    ...(e.details ? { details: e.details } : {}),
  };
}

/** Reads exact byte counts from a request body; TRUNCATED when it ends first. */
class ExactReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  received = 0;

  constructor(body: AsyncIterable<Uint8Array>) {
    this.it = body[Symbol.asyncIterator]();
  }

  async read(n: number, what: string): Promise<Buffer> {
    while (this.buf.length < n) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.it.next();
      } catch {
        r = { done: true, value: undefined };
      }
      if (r.done) {
        throw new AppError(
          "TRUNCATED",
          `the batch body was cut off in ${what} after ${this.received + this.buf.length} bytes`,
        );
      }
      this.buf = this.buf.length === 0 ? Buffer.from(r.value) : Buffer.concat([this.buf, r.value]);
    }
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    this.received += n;
    return out;
  }
}

type Item = { k: number; id: string; size: number; token: string; claims: CapabilityClaims; next: PipelineHop | null };

/** Handles one POST /chunks/batch; `contentLength` is the request's declared length. */
export async function putChunkBatch(
  d: ChunkApiDeps,
  body: AsyncIterable<Uint8Array>,
  contentLength: number | null,
  remoteAddress: string | undefined,
): Promise<PutChunkBatchResponse> {
  if (contentLength === null) throw new AppError("BAD_REQUEST", `POST ${PUT_BATCH_PATH} needs a Content-Length header`);
  if (contentLength > 4 + MAX_PUT_BATCH_HEADER + MAX_PUT_BATCH_BYTES)
    throw new AppError(
      "PAYLOAD_TOO_LARGE",
      `a chunk batch of ${contentLength} bytes is larger than ${MAX_PUT_BATCH_BYTES} bytes of chunks: send fewer chunks per batch`,
    );
  const { nodeId, epoch } = activeRegistration(d.state);
  const reader = new ExactReader(body);
  const headLen = (await reader.read(4, "the header length")).readUInt32BE(0);
  if (headLen > MAX_PUT_BATCH_HEADER || 4 + headLen > contentLength)
    throw new AppError("BAD_REQUEST", `the batch header claims ${headLen} bytes: not a chunk batch`);
  let header: PutChunkBatchHeader;
  try {
    const parsed = ZPutChunkBatchHeader.safeParse(
      JSON.parse((await reader.read(headLen, "the header")).toString("utf8")),
    );
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new AppError(
        "BAD_REQUEST",
        `invalid chunk batch header${i?.path.length ? ` at ${i.path.join(".")}` : ""}: ${i?.message ?? "malformed"}`,
      );
    }
    header = parsed.data;
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("BAD_REQUEST", "the chunk batch header is not JSON");
  }
  const dataBytes = header.items.reduce((s, it) => s + it.size, 0);
  if (4 + headLen + dataBytes !== contentLength)
    throw new AppError(
      "BAD_REQUEST",
      `Content-Length is ${contentLength} but the header announces ${4 + headLen + dataBytes} bytes`,
    );

  const results = new Array<PutChunkBatchResult>(header.items.length);
  // Every chunk's capability (a token is verified once and cached by the verifier).
  const items: Item[] = [];
  for (const [k, it] of header.items.entries()) {
    const token = header.tokens[it.token]!;
    try {
      const { claims } = await authorizeToken(d, token, { op: "write", chunk: it.id, remoteAddress });
      items.push({ k, id: it.id, size: it.size, token, claims, next: nextHop(claims.pipeline, nodeId) });
    } catch (err) {
      results[k] = failure(it.id, err);
    }
  }

  // Read every chunk (the body must be drained in order anyway) and stage the authorised ones.
  const store = d.store;
  const canStage = typeof store.stage === "function" && typeof store.commitStaged === "function";
  const bytes = new Map<number, Buffer>();
  const staged: { item: Item; s: StagedChunk }[] = [];
  const byK = new Map(items.map((x) => [x.k, x] as const));
  try {
    for (const [k, it] of header.items.entries()) {
      const data = await reader.read(it.size, `chunk ${it.id}`);
      d.metrics.bytesIn += it.size;
      const item = byK.get(k);
      if (!item) continue;
      try {
        if (canStage)
          staged.push({
            item,
            s: store.stageBytes ? await store.stageBytes(it.id, data) : await store.stage!(it.id, once(data), it.size),
          });
        else await store.put(it.id, once(data), it.size);
        bytes.set(k, data);
      } catch (err) {
        results[k] = failure(it.id, err);
      }
    }
  } catch (err) {
    await store.discardStaged?.(staged.map((x) => x.s));
    throw err;
  }
  const good = items.filter((x) => bytes.has(x.k));

  // Downstream copies and the local commit run side by side; a chunk counts when both did.
  const groups = new Map<string, Item[]>();
  for (const x of good) {
    if (!x.next) continue;
    const key = x.next.nodeId;
    const g = groups.get(key);
    if (g) g.push(x);
    else groups.set(key, [x]);
  }
  const forwarded = Promise.all([...groups.values()].map((g) => forwardBatch(d, g[0]!.next!, g, bytes))).then(
    (all) => new Map(all.flatMap((m) => [...m])),
  );
  const local = new Map<number, Error | null>();
  if (canStage && staged.length > 0) {
    const committed = await store.commitStaged!(staged.map((x) => x.s));
    staged.forEach((x, i) => {
      const r = committed[i]!;
      local.set(x.item.k, r instanceof Error ? r : null);
    });
  } else for (const x of good) local.set(x.k, null);
  const downstream = await forwarded;

  // One signature for every chunk stored here (signBatchReceipts), not one per chunk.
  const stored = good.filter((x) => !local.get(x.k));
  const mine = signBatchReceipts(d.identity.privateKey, {
    nodeId,
    epoch,
    chunks: stored.map((x) => ({ chunk: x.id, size: x.size })),
  });
  const receiptOf = new Map(stored.map((x, i) => [x.k, mine[i]!] as const));
  for (const x of good) {
    const err = local.get(x.k);
    if (err) {
      results[x.k] = failure(x.id, err);
      continue;
    }
    const receipt = receiptOf.get(x.k)!;
    if (!x.next) {
      results[x.k] = { ok: true, chunk: x.id, size: x.size, receipts: [receipt] };
      continue;
    }
    const down = downstream.get(x.k)!;
    results[x.k] = down.ok ? { ...down, receipts: [receipt, ...down.receipts] } : down;
  }
  return { results };
}

type Downstream = { ok: true; chunk: string; size: number; receipts: string[] } | Failure;

/**
 * Sends `items` to `hop` as one batch (never throws: each item gets the hop's answer or a
 * pipeline failure naming the hop, as a single-chunk relay reports it). Large batches to hops
 * reached over the WAN transport go chunk by chunk through the forwarder (WAN_HTTP_BATCH_BYTES).
 */
async function forwardBatch(
  d: ChunkApiDeps,
  hop: PipelineHop,
  items: readonly Item[],
  bytes: ReadonlyMap<number, Buffer>,
): Promise<Map<number, Downstream>> {
  const out = new Map<number, Downstream>();
  const pipelineFailure = (x: Item, reason: string, cause?: string): Failure =>
    failure(
      x.id,
      new AppError("UNAVAILABLE", `replica pipeline failed at storage node ${hop.nodeId} (${hop.url}): ${reason}`, {
        failedNodeId: hop.nodeId,
        failedUrl: hop.url,
        ...(cause ? { cause } : {}),
      }),
    );
  if (d.forwarder.isWanHop(hop) && items.reduce((n, x) => n + x.size, 0) > WAN_HTTP_BATCH_BYTES) {
    await Promise.all(
      items.map(async (x) => {
        const fwd = d.forwarder.start(hop, x.id, x.token, x.size);
        await fwd.write(bytes.get(x.k)!);
        fwd.end();
        const r = await fwd.result();
        out.set(x.k, r.ok ? { ok: true, chunk: x.id, size: x.size, receipts: r.receipts } : failure(x.id, r.error));
      }),
    );
    return out;
  }
  const tokens = [...new Set(items.map((x) => x.token))];
  const head = encodePutBatchHead({
    tokens,
    items: items.map((x) => ({ id: x.id, size: x.size, token: tokens.indexOf(x.token) })),
  });
  const length = head.length + items.reduce((s, x) => s + x.size, 0);
  const url = new URL(PUT_BATCH_PATH.slice(1), hop.url.endsWith("/") ? hop.url : `${hop.url}/`);
  let status: number;
  let text: string;
  try {
    ({ status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = (url.protocol === "https:" ? https : http).request(url, {
        method: "POST",
        agent: d.forwarder.agentFor(url),
        headers: { "content-type": "application/octet-stream", "content-length": String(length) },
      });
      req.setTimeout(30_000, () => req.destroy(new Error("no progress for 30000 ms")));
      req.on("error", reject);
      req.on("response", (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        let total = 0;
        res.on("data", (b: Buffer) => {
          total += b.length;
          if (total <= MAX_RESPONSE_BYTES) parts.push(b);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
        res.on("error", reject);
      });
      req.write(head);
      for (const x of items) req.write(bytes.get(x.k)!);
      req.end();
    }));
  } catch (err) {
    const why = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
    for (const x of items) out.set(x.k, pipelineFailure(x, `could not be reached (${why})`));
    return out;
  }
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Reported below with the status.
  }
  if (status === 200) {
    const parsed = ZPutChunkBatchResponse.safeParse(json);
    if (parsed.success && parsed.data.results.length === items.length) {
      parsed.data.results.forEach((r, i) => {
        const x = items[i]!;
        if (r.chunk !== x.id) out.set(x.k, pipelineFailure(x, "it answered for another chunk"));
        else if (r.ok) out.set(x.k, r);
        else {
          // A hop further down failed: keep its identity, we are just a relay.
          const nested = ZPipelineFailureDetails.safeParse(r.details);
          out.set(
            x.k,
            nested.success
              ? { ...r, code: "UNAVAILABLE" }
              : pipelineFailure(x, `it answered ${r.code}: ${r.message}`, r.code),
          );
        }
      });
      return out;
    }
    for (const x of items) out.set(x.k, pipelineFailure(x, "it answered 200 with an invalid body"));
    return out;
  }
  const err = AppError.fromBody(json, status);
  for (const x of items)
    out.set(x.k, pipelineFailure(x, `it answered ${status} ${err.code}: ${err.message}`, err.code));
  return out;
}
