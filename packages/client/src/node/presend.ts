// Node-only: the first pass of a large file upload, which chunks the file and sends chunks
// while it is still reading, instead of chunking all of it before the first PUT.
//
// beginUpload needs a complete manifest, so the chunks found so far are planned in batches:
// each batch is a beginUpload of just those chunks (an upload of a prefix of the file that
// is never committed and expires; it also keeps the chunks safe from garbage collection
// until then), and its missing chunks are PUT from the bytes still in memory. Receipts do
// not name an upload, so the final beginUpload + commit of the whole manifest (uploadContent)
// commits them and sends only what this pass could not. Anything that goes wrong here
// except an abort or an answer that no retry can change (conflict, no access) just leaves
// chunks for that second pass.
import type { FileHandle } from "node:fs/promises";
import { scanFile, type ScannedChunk } from "@cumulus/chunking/node";
import { AppError } from "@cumulus/protocol/errors";
import type { ChunkIo } from "../chunks.ts";
import type { CumulusClient } from "../client.ts";
import { emptyProgress, type ProgressListener } from "../progress.ts";
import type { ManifestLike, ReceiptJournal } from "../upload.ts";

export interface PresendOptions {
  path: string;
  baseVersion: number | null;
  parents?: boolean;
  deviceName?: string;
  concurrency: number;
  io: Pick<ChunkIo, "putChunk">;
  /** Receipts already held (an interrupted run's journal); those chunks are not sent. */
  receipts: Map<string, string[]>;
  journal?: ReceiptJournal;
  chunkTimeoutMs?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Read size (default 8 MiB). */
  blockSize?: number;
  /** Chunk bytes held in memory at most, roughly (default 96 MiB). */
  memoryBytes?: number;
}

export interface PresendResult {
  manifest: ManifestLike;
  /** Chunks sent by this pass (their receipts are in `receipts`). */
  sent: Set<string>;
  bytesSent: number;
}

type Missing = Awaited<ReturnType<CumulusClient["beginUpload"]>>["missing"][number];

const FIRST_BATCH = 4;
const MAX_BATCH = 64;

/** Errors of a beginUpload that the final one would get too: stop the upload now. */
function isFinal(err: unknown): boolean {
  if (!(err instanceof AppError)) return false;
  return ["CONFLICT", "FORBIDDEN", "NOT_FOUND", "ALREADY_EXISTS", "BAD_REQUEST", "UNAUTHENTICATED"].includes(err.code);
}

export async function chunkAndPresend(
  client: CumulusClient,
  fh: FileHandle,
  fileSize: number,
  opts: PresendOptions,
): Promise<PresendResult> {
  const { receipts, signal } = opts;
  const blockSize = opts.blockSize ?? 8 * 1024 * 1024;
  const chunks: { id: string; size: number }[] = [];
  const sent = new Set<string>();
  const seen = new Set<string>();
  let bytesSent = 0;
  let fatal: { err: unknown } | null = null;
  // After a transient failure of a batch plan, stop planning: the second pass sends the rest.
  let planning = true;

  const progress = emptyProgress("uploading", fileSize, 0);
  const report = () => opts.onProgress?.({ ...progress });

  let batch: ScannedChunk[] = [];
  let batchTarget = FIRST_BATCH;
  // Batches are planned one after another: beginUpload with `parents` creates folders, and
  // concurrent creations of the same folder would race.
  let planned: Promise<void> = Promise.resolve();
  const queue: { m: Missing; c: ScannedChunk }[] = [];
  let active = 0;
  let idle: (() => void) | null = null;
  const settle = () => {
    if (active === 0 && queue.length === 0 && idle) idle();
  };

  const pump = () => {
    while (active < opts.concurrency && queue.length > 0) {
      const { m, c } = queue.shift()!;
      if (fatal || signal?.aborted) {
        c.release();
        continue;
      }
      active++;
      opts.io
        .putChunk(client.fetch, m.pipeline[0]!, m.token, m.id, c.data!, { signal, timeoutMs: opts.chunkTimeoutMs })
        .then(
          (r) => {
            // Fewer receipts than hops: under-replicated; the second pass sends it again.
            if (r.length < m.pipeline.length) return;
            receipts.set(m.id, r);
            opts.journal?.record(m.id, r);
            sent.add(m.id);
            bytesSent += c.size;
            progress.chunksTransferred = sent.size;
            progress.bytesTransferred = bytesSent;
            progress.bytesDone = Math.min(fileSize, progress.bytesSkipped + bytesSent);
            report();
          },
          (err: unknown) => {
            if (signal?.aborted) fatal ??= { err: signal.reason };
            // Otherwise left to the second pass, which retries and knows when to give up.
            void err;
          },
        )
        .finally(() => {
          c.release();
          active--;
          pump();
          settle();
        });
    }
  };

  const plan = () => {
    if (batch.length === 0) return;
    const b = batch;
    batch = [];
    batchTarget = Math.min(MAX_BATCH, batchTarget * 4);
    planned = planned.then(async () => {
      if (!planning || fatal || signal?.aborted) {
        for (const c of b) c.release();
        return;
      }
      let missing: Missing[];
      try {
        const res = await client.beginUpload(
          {
            path: opts.path,
            size: b.reduce((s, c) => s + c.size, 0),
            chunks: b.map((c) => ({ id: c.id, size: c.size })),
            baseVersion: opts.baseVersion,
            parents: opts.parents ?? false,
            ...(opts.deviceName ? { deviceName: opts.deviceName } : {}),
          },
          { signal },
        );
        missing = res.missing;
      } catch (err) {
        for (const c of b) c.release();
        if (signal?.aborted) fatal ??= { err: signal.reason };
        else if (isFinal(err)) fatal ??= { err };
        else planning = false;
        return;
      }
      const byId = new Map(missing.map((m) => [m.id, m]));
      for (const c of b) {
        const m = byId.get(c.id);
        if (m && !receipts.has(c.id)) {
          queue.push({ m, c });
        } else {
          if (!m) {
            progress.chunksSkipped++;
            progress.bytesSkipped += c.size;
          }
          c.release();
        }
      }
      progress.bytesDone = Math.min(fileSize, progress.bytesSkipped + bytesSent);
      report();
      pump();
    });
  };

  let scanned = false;
  const size = await (async () => {
    try {
      return await scanFile(
        fh,
        {
          blockSize,
          signal,
          keep: {
            maxBlocks: Math.max(4, Math.ceil((opts.memoryBytes ?? 96 * 1024 * 1024) / blockSize)),
            onStall: plan,
          },
        },
        (c) => {
          if (fatal) throw fatal.err;
          chunks.push({ id: c.id, size: c.size });
          progress.chunksTotal = chunks.length;
          if (!planning || seen.has(c.id)) {
            c.release();
            return;
          }
          seen.add(c.id);
          batch.push(c);
          if (batch.length >= batchTarget) plan();
        },
      ).then((n) => {
        scanned = true;
        return n;
      });
    } finally {
      // Whatever happened, nothing may be left running: plan what is held (or drop it
      // after a failure), let every started request finish (an abort cuts them short).
      if (!scanned) planning = false;
      plan();
      await planned;
      pump();
      await new Promise<void>((resolve) => {
        idle = resolve;
        settle();
      });
    }
  })();
  if (fatal) throw (fatal as { err: unknown }).err;
  return { manifest: { size, chunks }, sent, bytesSent };
}
