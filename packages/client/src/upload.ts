import { AppError } from "@cumulus/protocol/errors";
import type { CumulusClient, Entry } from "./client.ts";
import { putChunk, putFailureKind, type ChunkIo, type HashFn } from "./chunks.ts";
import { backoffMs, sleep } from "./http.ts";
import { runPool } from "./pool.ts";
import { emptyProgress, type ProgressListener, type TransferProgress } from "./progress.ts";

export interface ManifestLike {
  size: number;
  chunks: { id: string; size: number }[];
}

/** Where an upload's bytes come from: a local file (Node) or a Blob (browser). */
export interface UploadSource {
  manifest: ManifestLike;
  /** Bytes [offset, offset + size) of the content. */
  read(offset: number, size: number): Promise<Uint8Array>;
  hash: HashFn;
  /**
   * Optional fast path: bytes [offset, offset + size) when the source can vouch that they
   * are still what the manifest was made from (a local file whose size and mtime did not
   * change since it was chunked), so they are sent without hashing them again; null when it
   * cannot, and the bytes are then read with `read` and hashed. The nodes verify every
   * chunk against its id: once one refuses vouched bytes (HASH_MISMATCH), the vouch is no
   * longer trusted for the rest of the upload, and the next attempt reads and hashes the
   * chunk, which then either proves the source changed (CONFLICT, nothing committed) or
   * that the bytes were damaged in transit (resent).
   */
  readKnown?(offset: number, size: number): Promise<Uint8Array | null>;
  /** The bytes of a `read`/`readKnown` are no longer used (the source may reuse the buffer). */
  release?(data: Uint8Array): void;
  /** Names the content in error messages, e.g. the local path. */
  label: string;
}

/**
 * Receipts survive an interrupted upload here, so a re-run commits them instead of
 * sending those chunks again. `record` may batch; `flush` makes everything durable.
 */
export interface ReceiptJournal {
  load(): Promise<Map<string, string[]>>;
  record(chunk: string, receipts: string[]): void;
  forget(chunks: Iterable<string>): void;
  flush(): Promise<void>;
  /** The upload committed: the journal is no longer needed. */
  complete(): Promise<void>;
}

export interface UploadOptions {
  /** Remote path of the file. */
  path: string;
  /** Version the content replaces (null: a new file; CONFLICT if it exists or changed). */
  baseVersion: number | null;
  /** Create missing parent folders. */
  parents?: boolean;
  deviceName?: string;
  /** Chunks in flight at once (default 4). */
  concurrency?: number;
  /** PUT attempts per chunk on one pipeline before asking for a new one (default 3). */
  attempts?: number;
  /** Fresh beginUpload calls after a pipeline kept failing or receipts went stale (default 3). */
  restarts?: number;
  /** First retry pause; later ones grow 4× (default 250 ms). */
  retryBaseMs?: number;
  chunkTimeoutMs?: number;
  journal?: ReceiptJournal;
  /**
   * Chunks an earlier pass of this same upload already sent (Node: while the file was
   * still being chunked); their receipts are in `receipts` (or the journal).
   */
  presend?: { receipts: ReadonlyMap<string, string[]>; sent: ReadonlySet<string>; bytes: number };
  /** Chunk transport (default HTTP `putChunk`); Node clients may pass the UDT one. */
  chunkIo?: Pick<ChunkIo, "putChunk">;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface UploadResult {
  bytesTotal: number;
  bytesUploaded: number;
  chunksTotal: number;
  chunksUploaded: number;
  /** Chunks not sent: the cluster had them (deduplication) or an interrupted run sent them. */
  chunksSkipped: number;
  bytesSkipped: number;
  version: number;
  entry: Entry;
  /** The remote file already had exactly this content: nothing was committed. */
  unchanged: boolean;
}

type Missing = Awaited<ReturnType<CumulusClient["beginUpload"]>>["missing"][number];

/** Keys under which a commit error may list the chunks whose receipts it refused. */
const STALE_KEYS = [
  "chunks",
  "rejected",
  "rejectedChunks",
  "invalid",
  "invalidChunks",
  "stale",
  "staleChunks",
  "missing",
  "missingChunks",
];

/** The node id a receipt (a compact JWS) names as its issuer; null if it does not parse. */
export function receiptIssuer(receipt: string): string | null {
  const payload = receipt.split(".")[1];
  if (!payload) return null;
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const json: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    const iss = (json as { iss?: unknown }).iss;
    return typeof iss === "string" ? iss.toLowerCase() : null;
  } catch {
    return null;
  }
}

/**
 * The chunks whose receipts a failed commit refused, or null when the failure is not
 * about receipts. The control plane names them in `details` or in the message (a chunk
 * id, and for a node that re-registered, the node, all of whose receipts are then stale).
 */
function refusedChunks(
  err: unknown,
  candidates: ReadonlySet<string>,
  receipts: ReadonlyMap<string, string[]>,
  nodeIdByName: ReadonlyMap<string, string>,
): Set<string> | null {
  if (!(err instanceof AppError)) return null;
  const out = new Set<string>();
  for (const key of STALE_KEYS) {
    const v = err.details?.[key];
    if (!Array.isArray(v)) continue;
    for (const x of v) {
      const id =
        typeof x === "string" ? x : typeof x === "object" && x !== null && "id" in x ? (x as { id: unknown }).id : null;
      if (typeof id === "string" && candidates.has(id)) out.add(id);
    }
  }
  const aboutReceipts = err.code === "STALE_EPOCH" || /receipt/i.test(err.message);
  if (!aboutReceipts && out.size === 0) return null;
  for (const m of err.message.matchAll(/\b[0-9a-f]{64}\b/g)) if (candidates.has(m[0])) out.add(m[0]);
  if (err.code === "STALE_EPOCH") {
    for (const m of err.message.matchAll(/\bnode ([a-z0-9][a-z0-9-]*)/g)) {
      const nodeId = nodeIdByName.get(m[1]!);
      if (!nodeId) continue;
      for (const [chunk, list] of receipts) if (list.some((r) => receiptIssuer(r) === nodeId)) out.add(chunk);
    }
  }
  return out;
}

/**
 * Uploads content with the Cumulus protocol: beginUpload with the manifest, PUT only the
 * chunks the cluster lacks to the first node of each chunk's pipeline (bounded
 * parallelism, retry with backoff, a fresh beginUpload when a pipeline keeps failing),
 * then commit with the nodes' receipts. Platform-neutral: the Node file upload and the
 * browser Blob upload differ only in their `UploadSource`.
 */
export async function uploadContent(
  client: CumulusClient,
  source: UploadSource,
  opts: UploadOptions,
): Promise<UploadResult> {
  const { manifest } = source;
  const concurrency = opts.concurrency ?? 4;
  const attempts = Math.max(1, opts.attempts ?? 3);
  const retryBaseMs = opts.retryBaseMs ?? 250;
  const signal = opts.signal;
  let restartsLeft = opts.restarts ?? 3;

  const offsetOf = new Map<string, number>();
  {
    let pos = 0;
    for (const c of manifest.chunks) {
      if (!offsetOf.has(c.id)) offsetOf.set(c.id, pos);
      pos += c.size;
    }
  }

  const receipts = opts.journal ? await opts.journal.load() : new Map<string, string[]>();
  for (const [id, r] of opts.presend?.receipts ?? []) receipts.set(id, r);
  const sentThisRun = new Set<string>(opts.presend?.sent);
  const resumedFromJournal = new Set([...receipts.keys()].filter((id) => !sentThisRun.has(id)));
  const nodeIdByName = new Map<string, string>();
  let bytesSent = opts.presend?.bytes ?? 0;

  const progress: TransferProgress = emptyProgress("uploading", manifest.size, manifest.chunks.length);
  const report = () => opts.onProgress?.({ ...progress });

  /**
   * What counts as skipped depends on what beginUpload says is missing, so it is
   * recounted once per beginUpload; sends in between only move the transferred counters.
   */
  const countSkipped = (missingIds: ReadonlySet<string>) => {
    let chunksSkipped = 0;
    let bytesSkipped = 0;
    for (const c of manifest.chunks) {
      if (!missingIds.has(c.id) || (receipts.has(c.id) && !sentThisRun.has(c.id))) {
        chunksSkipped++;
        bytesSkipped += c.size;
      }
    }
    progress.chunksSkipped = chunksSkipped;
    progress.bytesSkipped = bytesSkipped;
    countSent();
  };
  const countSent = () => {
    progress.chunksTransferred = sentThisRun.size;
    progress.bytesTransferred = bytesSent;
    progress.bytesDone = Math.min(manifest.size, progress.bytesSkipped + bytesSent);
  };

  // Cleared for good by a node's HASH_MISMATCH on bytes sent on the source's word.
  let trustKnown = source.readKnown !== undefined;
  const readVerified = async (m: Missing): Promise<{ data: Uint8Array; known: boolean }> => {
    const offset = offsetOf.get(m.id);
    if (offset === undefined) {
      throw new AppError(
        "INTERNAL",
        `the server asked for chunk ${m.id.slice(0, 12)}, which is not part of ${source.label}`,
      );
    }
    const known = trustKnown && source.readKnown ? await source.readKnown(offset, m.size) : null;
    if (known !== null && known.length === m.size) return { data: known, known: true };
    if (known !== null) source.release?.(known);
    const data = await source.read(offset, m.size);
    if (data.length !== m.size || (await source.hash(data)) !== m.id) {
      source.release?.(data);
      throw new AppError(
        "CONFLICT",
        `${source.label} changed while it was being uploaded; nothing was committed — upload it again`,
        { localChanged: true },
      );
    }
    return { data, known: false };
  };

  try {
    for (;;) {
      const begin = await client.beginUpload(
        {
          path: opts.path,
          size: manifest.size,
          chunks: manifest.chunks.map((c) => ({ id: c.id, size: c.size })),
          baseVersion: opts.baseVersion,
          parents: opts.parents ?? false,
          ...(opts.deviceName ? { deviceName: opts.deviceName } : {}),
        },
        { signal },
      );
      const missing = [...new Map(begin.missing.map((m) => [m.id, m])).values()];
      for (const m of missing) for (const hop of m.pipeline) nodeIdByName.set(hop.node, hop.nodeId.toLowerCase());
      const missingIds = new Set(missing.map((m) => m.id));
      progress.phase = "uploading";
      countSkipped(missingIds);
      report();

      let restartBecause: unknown = null;
      const todo = missing.filter((m) => !receipts.has(m.id));
      await runPool(
        todo,
        concurrency,
        async (m) => {
          let lastErr: unknown;
          for (let attempt = 0; attempt < attempts; attempt++) {
            if (restartBecause !== null) return;
            signal?.throwIfAborted();
            const { data, known } = await readVerified(m);
            const first = m.pipeline[0]!;
            try {
              let r: string[];
              try {
                r = await (opts.chunkIo?.putChunk ?? putChunk)(client.fetch, first, m.token, m.id, data, {
                  signal,
                  timeoutMs: opts.chunkTimeoutMs,
                });
              } finally {
                source.release?.(data);
              }
              if (r.length < m.pipeline.length) {
                // Fewer receipts than pipeline hops: the chunk is less durable than the
                // policy asks; resend rather than commit it under-replicated.
                throw new AppError(
                  "UNAVAILABLE",
                  `only ${r.length} of ${m.pipeline.length} storage nodes confirmed chunk ${m.id.slice(0, 12)}`,
                );
              }
              receipts.set(m.id, r);
              opts.journal?.record(m.id, r);
              sentThisRun.add(m.id);
              bytesSent += m.size;
              countSent();
              report();
              return;
            } catch (err) {
              if (signal?.aborted) throw signal.reason;
              // Unhashed bytes refused: the file may have changed without its stat showing
              // it. The retry hashes them (readVerified), which tells the two apart.
              if (known && err instanceof AppError && err.code === "HASH_MISMATCH") trustKnown = false;
              const kind = putFailureKind(err);
              if (kind === "fatal") throw err;
              lastErr = err;
              if (kind === "restart") break;
              if (attempt + 1 < attempts) await sleep(backoffMs(attempt, retryBaseMs), signal);
            }
          }
          restartBecause ??= lastErr;
        },
        () => restartBecause !== null,
      );
      if (restartBecause !== null) {
        if (restartsLeft-- <= 0) throw restartBecause;
        await opts.journal?.flush();
        continue;
      }

      progress.phase = "committing";
      report();
      await opts.journal?.flush();
      const commitReceipts: Record<string, string[]> = {};
      for (const m of missing) commitReceipts[m.id] = receipts.get(m.id)!;
      try {
        const out = await client.commitUpload(begin.uploadId, { receipts: commitReceipts }, { signal });
        await opts.journal?.complete();
        progress.phase = "done";
        progress.bytesDone = manifest.size;
        report();
        return {
          bytesTotal: manifest.size,
          bytesUploaded: bytesSent,
          chunksTotal: manifest.chunks.length,
          chunksUploaded: sentThisRun.size,
          chunksSkipped: progress.chunksSkipped,
          bytesSkipped: progress.bytesSkipped,
          version: out.version,
          entry: out.entry,
          unchanged: false,
        };
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const refused = refusedChunks(err, missingIds, receipts, nodeIdByName);
        if (refused !== null && refused.size === 0) {
          // About receipts but naming none we can match: the journal of an earlier run is
          // the likely culprit (a node lost its data or re-registered since).
          for (const id of resumedFromJournal) if (!sentThisRun.has(id)) refused.add(id);
        }
        const uploadExpired =
          err instanceof AppError &&
          (err.code === "TOKEN_EXPIRED" || (err.code === "NOT_FOUND" && /upload/i.test(err.message)));
        if (((refused !== null && refused.size > 0) || uploadExpired) && restartsLeft-- > 0) {
          // Send just the refused chunks again, under a fresh upload (and so a fresh
          // pipeline and token).
          for (const id of refused ?? []) {
            receipts.delete(id);
            resumedFromJournal.delete(id);
            sentThisRun.delete(id);
          }
          opts.journal?.forget(refused ?? []);
          continue;
        }
        throw err;
      }
    }
  } finally {
    await opts.journal?.flush().catch(() => undefined);
  }
}
