import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { AppError } from "@cumulus/protocol/errors";
import type { CumulusClient, DownloadPlan } from "../client.ts";
import { fetchChunk, type ChunkIo, type NodeRef } from "../chunks.ts";
import { backoffMs, sleep } from "../http.ts";
import { runPool } from "../pool.ts";
import { emptyProgress, type ProgressListener } from "../progress.ts";
import { localError } from "./local-errors.ts";
import { openTransport, sha256Node } from "./upload-file.ts";

export const PARTIAL_SUFFIX = ".cumulus-partial";

export interface DownloadFileOptions {
  /** Chunk transport from nodes: "http" (default), "udt", or "auto" (UDT from nodes of other sites). */
  transport?: "udt" | "http" | "auto";
  /** A ready transport (overrides `transport`). */
  chunkIo?: Pick<ChunkIo, "fetchChunk">;
  remotePath: string;
  localPath: string;
  /** A past version; default the current one. */
  version?: number;
  /** Chunks in flight at once (default DEFAULT_DOWNLOAD_CONCURRENCY). */
  concurrency?: number;
  /** Passes over a chunk's replica list before giving up (default 2). */
  rounds?: number;
  retryBaseMs?: number;
  chunkTimeoutMs?: number;
  onProgress?: ProgressListener;
  /** A replica failed (unreachable, corrupt, ...) and the next one is tried. */
  onReplicaError?: (e: { chunk: string; node: string; error: unknown }) => void;
  signal?: AbortSignal;
  /**
   * Keep `<dest>.cumulus-partial` across runs: chunks an interrupted run already wrote
   * (checked against their SHA-256) are not fetched again, and a failed run leaves the
   * partial file for the next one. The caller owns cleaning up partials it no longer needs.
   */
  resume?: boolean;
  /** Bytes written between background `fdatasync`s (default 64 MiB; see EarlyWriteback). */
  writebackBytes?: number;
}

export interface DownloadResult {
  path: string;
  version: number;
  bytesTotal: number;
  bytesDownloaded: number;
  chunksTotal: number;
  chunksDownloaded: number;
  /** Chunks a `resume` found already written by an interrupted run. */
  chunksSkipped: number;
}

/**
 * Chunks in flight for one download. A chunk GET waits for its node's cold disk read and
 * hash before the first byte, so more in flight keeps both ends busy: 512 MiB on an idle
 * 2-core machine took 1.51-1.63 s at 16, 1.58-1.75 s at 8, 1.69-2.13 s at 4 and
 * 1.96-2.13 s at 2, for the same CPU (docs/benchmarks.md). Memory: up to 8 chunks of at
 * most 4 MiB.
 */
const DEFAULT_DOWNLOAD_CONCURRENCY = 8;

interface Part {
  id: string;
  size: number;
  offsets: number[];
}

/**
 * Downloads one file: chunks in parallel from the nearest replica, each verified against
 * its SHA-256 with a fall back to the next replica on any error, written at their offsets
 * into `<dest>.cumulus-partial`, fsynced and renamed over the destination. A corrupt
 * chunk never reaches the destination, and the destination is never half-written.
 */
export async function downloadFile(client: CumulusClient, options: DownloadFileOptions): Promise<DownloadResult> {
  const opts = { ...options, concurrency: options.concurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY };
  const io = opts.chunkIo ? null : await openTransport(opts.transport, client.site, opts.concurrency);
  try {
    return await downloadFileInner(client, io ? { ...opts, chunkIo: io } : opts);
  } catch (err) {
    // The caller's abort reason, not the AbortError of whichever request it cut short.
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  } finally {
    io?.close();
  }
}

async function downloadFileInner(client: CumulusClient, opts: DownloadFileOptions): Promise<DownloadResult> {
  const signal = opts.signal;
  let plan = await client.downloadPlan(opts.remotePath, { version: opts.version, signal });
  const version = plan.version;

  const parts = new Map<string, Part>();
  for (const c of plan.chunks) {
    const p = parts.get(c.id);
    if (p) p.offsets.push(c.offset);
    else parts.set(c.id, { id: c.id, size: c.size, offsets: [c.offset] });
  }
  let access = accessOf(plan);
  // Read tokens expire; a long download asks for a fresh plan of the same version once
  // per expiry, shared by every chunk that noticed.
  let refreshing: Promise<void> | null = null;
  const refresh = (seen: Map<string, ChunkAccess>): Promise<void> => {
    if (access !== seen) return Promise.resolve();
    refreshing ??= client
      .downloadPlan(opts.remotePath, { version, signal })
      .then((p) => {
        plan = p;
        access = accessOf(p);
      })
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  };

  const progress = emptyProgress("downloading", plan.size, plan.chunks.length);
  const report = () => opts.onProgress?.({ ...progress });
  report();

  const dest = path.resolve(opts.localPath);
  const partial = dest + PARTIAL_SUFFIX;
  let fh: Awaited<ReturnType<typeof open>>;
  let resumed = false;
  try {
    const existing = opts.resume ? await open(partial, "r+").catch(() => null) : null;
    if (existing && (await existing.stat()).size === plan.size) {
      fh = existing;
      resumed = true;
    } else {
      await existing?.close();
      fh = await open(partial, "w", 0o644);
    }
  } catch (err) {
    throw localError(err, partial);
  }
  let ok = false;
  try {
    await fh.truncate(plan.size);
    if (resumed) {
      // What an earlier run wrote is kept where every copy of a chunk verifies.
      const buf = Buffer.allocUnsafe([...parts.values()].reduce((m, p) => Math.max(m, p.size), 0));
      for (const part of [...parts.values()]) {
        let intact = true;
        for (const offset of part.offsets) {
          const { bytesRead } = await fh.read(buf, 0, part.size, offset);
          if (bytesRead !== part.size || sha256Node(buf.subarray(0, part.size)) !== part.id) {
            intact = false;
            break;
          }
        }
        if (!intact) continue;
        parts.delete(part.id);
        progress.chunksSkipped += part.offsets.length;
        progress.bytesSkipped += part.size * part.offsets.length;
        progress.bytesDone += part.size * part.offsets.length;
      }
      report();
    }
    const rounds = Math.max(1, opts.rounds ?? 2);
    // One receive buffer per chunk in flight, reused from chunk to chunk (fewer large
    // allocations, less GC); used by transports that accept `into` (node:http).
    let bufSize = 0;
    for (const p of parts.values()) bufSize = Math.max(bufSize, p.size);
    const free: Uint8Array[] = [];
    const writeback = new EarlyWriteback(fh, opts.writebackBytes ?? WRITEBACK_EVERY_BYTES);
    try {
      await runPool(parts.values(), opts.concurrency ?? DEFAULT_DOWNLOAD_CONCURRENCY, async (part) => {
        const into = free.pop() ?? Buffer.allocUnsafeSlow(bufSize);
        try {
          await fetchAndWrite(part, into);
        } finally {
          free.push(into);
        }
      });
    } finally {
      await writeback.settle();
    }

    async function fetchAndWrite(part: Part, into: Uint8Array): Promise<void> {
      const data = await fetchPart(part, into);
      for (const offset of part.offsets) {
        let written = 0;
        while (written < data.length) {
          const { bytesWritten } = await fh
            .write(data, written, data.length - written, offset + written)
            .catch((err: unknown) => {
              throw localError(err, partial);
            });
          written += bytesWritten;
        }
        writeback.wrote(data.length);
        progress.chunksTransferred++;
        progress.bytesTransferred += data.length;
        progress.bytesDone += data.length;
      }
      report();
    }

    async function fetchPart(part: Part, into: Uint8Array): Promise<Uint8Array> {
      const failures: string[] = [];
      let refreshed = false;
      for (let round = 0; round < rounds; round++) {
        const seen = access;
        const a = seen.get(part.id);
        if (!a || a.replicas.length === 0) {
          throw new AppError(
            "UNAVAILABLE",
            `chunk ${part.id.slice(0, 12)} of ${opts.remotePath} has no live replica right now; try again later`,
          );
        }
        let expired = false;
        for (const replica of a.replicas) {
          signal?.throwIfAborted();
          try {
            return await (opts.chunkIo?.fetchChunk ?? fetchChunk)(
              client.fetch,
              replica,
              a.token,
              part.id,
              part.size,
              sha256Node,
              {
                signal,
                timeoutMs: opts.chunkTimeoutMs,
                into,
              },
            );
          } catch (err) {
            if (signal?.aborted) throw signal.reason;
            opts.onReplicaError?.({ chunk: part.id, node: replica.node, error: err });
            if (err instanceof AppError && err.code === "TOKEN_EXPIRED") expired = true;
            failures.push(`${replica.node}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        if (expired && !refreshed) {
          refreshed = true;
          await refresh(seen);
          round--;
          continue;
        }
        if (round + 1 < rounds) await sleep(backoffMs(round, opts.retryBaseMs ?? 500), signal);
      }
      throw new AppError(
        "UNAVAILABLE",
        `no replica returned chunk ${part.id.slice(0, 12)} of ${opts.remotePath} intact (${[...new Set(failures)].join("; ")})`,
      );
    }

    await fh.sync();
    ok = true;
  } finally {
    await fh.close().catch(() => undefined);
    if (!ok && !opts.resume) await rm(partial, { force: true }).catch(() => undefined);
  }
  try {
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw localError(err, dest);
  }
  await fsyncDir(path.dirname(dest));
  progress.phase = "done";
  report();
  return {
    path: plan.path,
    version,
    bytesTotal: plan.size,
    bytesDownloaded: progress.bytesTransferred,
    chunksTotal: plan.chunks.length,
    chunksDownloaded: progress.chunksTransferred,
    chunksSkipped: progress.chunksSkipped,
  };
}

/** Bytes written between background `fdatasync`s of a download (see EarlyWriteback). */
const WRITEBACK_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * Starts the kernel's writeback of a download while it is still arriving: an
 * `fdatasync` on the thread pool every WRITEBACK_EVERY_BYTES, one at a time, so the
 * final fsync before the rename (the durability point, unchanged) finds little left to
 * flush. On a 1 GiB download that fsync alone was 15% of the wall time. A failed early
 * sync is ignored: the final fsync reports the same error.
 */
class EarlyWriteback {
  private readonly fh: { datasync(): Promise<void> };
  private readonly every: number;
  private sinceSync = 0;
  private running: Promise<void> | null = null;

  constructor(fh: { datasync(): Promise<void> }, every: number) {
    this.fh = fh;
    this.every = every;
  }

  wrote(bytes: number): void {
    this.sinceSync += bytes;
    if (this.sinceSync < this.every || this.running !== null) return;
    this.sinceSync = 0;
    this.running = this.fh.datasync().then(
      () => {
        this.running = null;
      },
      () => {
        this.running = null;
      },
    );
  }

  /** Waits for a sync still running (the file handle must not close under it). */
  async settle(): Promise<void> {
    await this.running;
  }
}

interface ChunkAccess {
  replicas: NodeRef[];
  token: string;
}

function accessOf(plan: DownloadPlan): Map<string, ChunkAccess> {
  const m = new Map<string, ChunkAccess>();
  for (const c of plan.chunks) if (!m.has(c.id)) m.set(c.id, { replicas: c.replicas, token: c.token });
  return m;
}

/** Makes the rename durable; some file systems refuse fsync on a directory, which is fine. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}
