import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { scanBigOrSmallFile, smallFileBlockSize } from "@cumulus/chunking/node";
import { AppError } from "@cumulus/protocol/errors";
import type { CumulusClient } from "../client.ts";
import type { ProgressListener } from "../progress.ts";
import { emptyProgress } from "../progress.ts";
import { uploadContent, type ManifestLike, type UploadOptions, type UploadResult } from "../upload.ts";
import type { ChunkIo } from "../chunks.ts";
import { createHttpChunkIo } from "./http-chunk-io.ts";
import { SmallChunkBatcher } from "./small-chunks.ts";
import { FileReceiptJournal } from "./journal.ts";
import { localError } from "./local-errors.ts";
import { chunkAndPresend, type PresendResult } from "./presend.ts";

export interface UploadFileOptions extends Omit<UploadOptions, "path" | "baseVersion" | "journal"> {
  /** Chunk transport to nodes: "http" (default), "udt", or "auto" (UDT to nodes of other sites than the client's). */
  transport?: "udt" | "http" | "auto";
  localPath: string;
  remotePath: string;
  /**
   * The version the upload replaces. Omitted: with `overwrite` the current version is
   * looked up (a new version is created), without it the file must not exist yet.
   */
  baseVersion?: number | null;
  overwrite?: boolean;
  /** Where receipts of unfinished uploads are kept (e.g. `<configDir>/uploads`); none: not resumable. */
  journalDir?: string;
  /**
   * When the file being replaced already has exactly this content, commit nothing and
   * report `unchanged` instead of creating an identical version.
   */
  skipUnchanged?: boolean;
  /**
   * Files of at least this many bytes are sent while they are being chunked (presend.ts)
   * instead of being chunked first. Off by default: the batch plans it needs cost the
   * control plane about 2 CPU-s per GiB, more than the overlap saved on a busy machine
   * (docs/benchmarks.md).
   */
  presendMinBytes?: number;
  /**
   * The file's chunk list as an earlier pass over it made it (e.g. a sync agent's scanner,
   * which hashes the file anyway), with the file's identity and stat at that time. Used
   * instead of chunking the file again only while dev, inode, size and mtime are still
   * those; otherwise the file is chunked as usual. Its chunks are then sent under the same
   * rule as those of the upload's own chunk pass: unhashed while the stat stays unchanged,
   * since every node verifies each chunk's SHA-256 against its id anyway. A node refusing
   * one (HASH_MISMATCH) makes the upload hash what it sends from then on, and a chunk that
   * no longer matches its id ends it (CONFLICT with `details.localChanged`, nothing
   * committed), so a manifest that no longer describes the bytes is never committed.
   */
  precomputed?: PrecomputedManifest;
}

export interface PrecomputedManifest {
  manifest: ManifestLike;
  /** `Stats.dev`, `.ino`, `.size` and `.mtimeMs` (numbers, as `fs.stat` gives them) when the manifest was made. */
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

const DEFAULT_PRESEND_MIN_BYTES = Number.POSITIVE_INFINITY;

/**
 * Chunk PUTs in flight. A PUT is answered only after its node fsynced the chunk, renamed
 * it and fsynced the directory, so the upload is bound by that latency: 8 in flight took
 * 5.9-7.2 s where 4 took 6.7-13 s for 256 MiB on a loaded machine, for the same CPU
 * (docs/benchmarks.md). Memory: up to 8 chunks of at most 4 MiB.
 */
const DEFAULT_UPLOAD_CONCURRENCY = 8;

export function sha256Node(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Chunks a file (one pass, memory stays at a few read blocks) and reports hashing progress. */
export async function chunkLocalFile(
  localPath: string,
  opts: { onProgress?: ProgressListener; signal?: AbortSignal } = {},
): Promise<ManifestLike> {
  const fh = await open(localPath, "r");
  try {
    const size = (await fh.stat()).size;
    const progress = emptyProgress("hashing", size, 0);
    const chunks: { id: string; size: number }[] = [];
    const blockSize = smallFileBlockSize(size);
    const opt = { signal: opts.signal, ...(blockSize ? { blockSize } : {}) };
    const total = await scanBigOrSmallFile(fh, size, opt, (rec) => {
      chunks.push({ id: rec.id, size: rec.size });
      progress.bytesDone = rec.offset + rec.size;
      progress.chunksTotal = chunks.length;
      opts.onProgress?.({ ...progress });
    });
    return { size: total, chunks };
  } finally {
    await fh.close();
  }
}

/**
 * Reads exactly `size` bytes at `offset` (a single read may return fewer), into `into`
 * when it is large enough (the result is then a view of it).
 */
async function readAt(
  fh: Awaited<ReturnType<typeof open>>,
  offset: number,
  size: number,
  into?: Buffer,
): Promise<Uint8Array> {
  const buf = into && into.length >= size ? into : Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === buf.length ? buf : buf.subarray(0, got);
}

/**
 * Uploads one local file. Chunk bytes are read from the file by offset when they are
 * sent, so memory stays at `concurrency` chunks whatever the file size; with a
 * `journalDir` an interrupted upload resumes without re-sending the chunks it had sent.
 */
export async function uploadFile(client: CumulusClient, options: UploadFileOptions): Promise<UploadResult> {
  const opts = { ...options, concurrency: options.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY };
  const io = opts.chunkIo ? null : await openTransport(opts.transport, client.site, opts.concurrency);
  try {
    return await uploadFileInner(client, io ? { ...opts, chunkIo: io } : opts);
  } catch (err) {
    // Whatever was interrupted (a read stream, a fetch) reports its own AbortError; the
    // caller wants the reason it gave.
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  } finally {
    io?.close();
  }
}

/**
 * The chunk transport for `transport`: node:http chunk I/O, wrapped by the UDT transport
 * for "udt" | "auto" (loaded only then, with a dynamic import: the native addon is never
 * loaded for HTTP).
 */
export async function openTransport(
  transport: "udt" | "http" | "auto" | undefined,
  site: string | null,
  concurrency?: number,
): Promise<ChunkIo & { close(): void }> {
  // Chunk bytes go over node:http (keep-alive agent per node), never global fetch: see
  // http-chunk-io.ts. Control-plane calls keep using the client's fetch.
  const http = createHttpChunkIo({ maxSockets: Math.max(4, concurrency ?? 4) });
  // Small chunk PUTs that overlap (many small files at once) go to a node in batches.
  if (transport === undefined || transport === "http") return new SmallChunkBatcher(http);
  const { createChunkTransport } = await import("./udt-transport.ts");
  return createChunkTransport(transport, site, http) ?? http;
}

function matchesPrecomputed(st: BigIntStats, p: PrecomputedManifest | undefined): p is PrecomputedManifest {
  if (!p) return false;
  // Compared as the numbers fs.stat (not bigint) gives, since that is what the caller has.
  const n = (v: bigint) => Number(v);
  const mtimeMs = Number(st.mtimeNs / 1000n) / 1000;
  const sum = p.manifest.chunks.reduce((a, c) => a + c.size, 0);
  return (
    n(st.dev) === p.dev &&
    n(st.ino) === p.ino &&
    n(st.size) === p.size &&
    p.manifest.size === p.size &&
    sum === p.size &&
    Math.abs(mtimeMs - p.mtimeMs) < 0.001
  );
}

function sameFile(a: BigIntStats, b: BigIntStats | null): boolean {
  return b !== null && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

async function uploadFileInner(client: CumulusClient, opts: UploadFileOptions): Promise<UploadResult> {
  let baseVersion = opts.baseVersion;
  if (baseVersion === undefined) {
    baseVersion = null;
    if (opts.overwrite) {
      const existing = await client.statIfExists(opts.remotePath, { signal: opts.signal });
      if (existing?.entry.type === "folder") throw new AppError("ALREADY_EXISTS", `${opts.remotePath} is a folder`);
      baseVersion = existing?.entry.version ?? null;
    }
  }

  let manifest: ManifestLike;
  let before: BigIntStats;
  const journal = opts.journalDir
    ? new FileReceiptJournal(opts.journalDir, opts.localPath, opts.remotePath)
    : undefined;
  let presend: (PresendResult & { receipts: Map<string, string[]> }) | undefined;
  try {
    const st = await stat(opts.localPath, { bigint: true });
    if (!st.isFile()) throw new AppError("BAD_REQUEST", `${opts.localPath} is not a regular file`);
    before = st;
    const early =
      Number(st.size) >= (opts.presendMinBytes ?? DEFAULT_PRESEND_MIN_BYTES) &&
      !(opts.skipUnchanged && baseVersion !== null);
    if (matchesPrecomputed(st, opts.precomputed)) {
      manifest = opts.precomputed.manifest;
      opts.onProgress?.({
        ...emptyProgress("hashing", manifest.size, manifest.chunks.length),
        bytesDone: manifest.size,
      });
    } else if (early) {
      presend = await presendFile(client, opts, baseVersion, before, journal);
      manifest = presend.manifest;
    } else {
      manifest = await chunkLocalFile(opts.localPath, { onProgress: opts.onProgress, signal: opts.signal });
    }
  } catch (err) {
    throw localError(err, opts.localPath);
  }

  if (opts.skipUnchanged && baseVersion !== null) {
    const current = await client.stat(opts.remotePath, { version: baseVersion, signal: opts.signal });
    const same =
      current.size === manifest.size &&
      current.chunks.length === manifest.chunks.length &&
      current.chunks.every((c, i) => c.id === manifest.chunks[i]!.id && c.size === manifest.chunks[i]!.size);
    if (same) {
      const done = {
        ...emptyProgress("done", manifest.size, manifest.chunks.length),
        bytesDone: manifest.size,
        chunksSkipped: manifest.chunks.length,
        bytesSkipped: manifest.size,
      };
      opts.onProgress?.(done);
      return {
        bytesTotal: manifest.size,
        bytesUploaded: 0,
        chunksTotal: manifest.chunks.length,
        chunksUploaded: 0,
        chunksSkipped: manifest.chunks.length,
        bytesSkipped: manifest.size,
        version: baseVersion,
        entry: current.entry,
        unchanged: true,
      };
    }
  }

  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(opts.localPath, "r");
  } catch (err) {
    throw localError(err, opts.localPath);
  }
  try {
    // Single pass: the chunk pass (this upload's, or the caller's precomputed one, whose
    // stat `before` matched) hashed every byte, so a chunk read while the file's size and
    // mtime (and inode) are still those from before the chunk pass is sent without hashing
    // it again. Once the file looks changed, every chunk is read and hashed as before, so a
    // file modified mid-upload is still refused (CONFLICT). A change within the file
    // system's mtime granularity is not seen this way; the node that verifies the chunk's
    // SHA-256 against its id refuses it, and uploadContent then hashes before resending.
    let unchanged =
      sameFile(before, await fh.stat({ bigint: true }).catch(() => null)) && manifest.size === Number(before.size);
    // Read buffers, reused from chunk to chunk (one per chunk in flight).
    let bufSize = 0;
    for (const c of manifest.chunks) bufSize = Math.max(bufSize, c.size);
    const free: Buffer[] = [];
    const take = () => free.pop() ?? Buffer.allocUnsafeSlow(bufSize);
    const read = async (offset: number, size: number): Promise<Uint8Array> => {
      try {
        return await readAt(fh, offset, size, take());
      } catch (err) {
        throw localError(err, opts.localPath);
      }
    };
    const releaseBuf = (data: Uint8Array) => {
      // Only whole pool buffers (allocUnsafeSlow: one ArrayBuffer each) go back.
      if (data.byteOffset === 0 && data.buffer.byteLength === bufSize && free.length < 64)
        free.push(Buffer.from(data.buffer, 0, bufSize));
    };
    return await uploadContent(
      client,
      {
        manifest,
        label: opts.localPath,
        hash: sha256Node,
        read,
        readKnown: async (offset, size) => {
          if (!unchanged) return null;
          const data = await read(offset, size);
          // Checked after the read: these bytes are the ones hashed only if nothing changed
          // up to now. Sticky: once changed, always hashed.
          unchanged &&= sameFile(before, await fh.stat({ bigint: true }).catch(() => null));
          if (unchanged) return data;
          releaseBuf(data);
          return null;
        },
        release: releaseBuf,
      },
      {
        ...opts,
        path: opts.remotePath,
        baseVersion,
        journal,
        ...(presend ? { presend: { receipts: presend.receipts, sent: presend.sent, bytes: presend.bytesSent } } : {}),
      },
    );
  } finally {
    await fh.close();
  }
}

/**
 * Chunks the file and sends its chunks while reading it (presend.ts). The bytes sent are
 * the bytes hashed, so every chunk matches its id; a file that changed meanwhile (size,
 * mtime or inode) is refused like one that changes during the rest of the upload.
 */
async function presendFile(
  client: CumulusClient,
  opts: UploadFileOptions,
  baseVersion: number | null,
  before: BigIntStats,
  journal: FileReceiptJournal | undefined,
): Promise<PresendResult & { receipts: Map<string, string[]> }> {
  const io = opts.chunkIo;
  if (!io) throw new Error("uploadFile: no chunk transport");
  const fh: FileHandle = await open(opts.localPath, "r");
  try {
    const receipts = journal ? await journal.load() : new Map<string, string[]>();
    let r: PresendResult;
    try {
      r = await chunkAndPresend(client, fh, Number(before.size), {
        path: opts.remotePath,
        baseVersion,
        ...(opts.parents !== undefined ? { parents: opts.parents } : {}),
        ...(opts.deviceName ? { deviceName: opts.deviceName } : {}),
        concurrency: opts.concurrency ?? 4,
        io,
        receipts,
        ...(journal ? { journal } : {}),
        ...(opts.chunkTimeoutMs !== undefined ? { chunkTimeoutMs: opts.chunkTimeoutMs } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } finally {
      await journal?.flush().catch(() => undefined);
    }
    if (
      !sameFile(before, await fh.stat({ bigint: true }).catch(() => null)) ||
      r.manifest.size !== Number(before.size)
    ) {
      throw new AppError(
        "CONFLICT",
        `${opts.localPath} changed while it was being uploaded; nothing was committed — upload it again`,
      );
    }
    return { ...r, receipts };
  } finally {
    await fh.close();
  }
}
