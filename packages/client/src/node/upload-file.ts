import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import { chunkStream } from "@cumulus/chunking/node";
import { AppError } from "@cumulus/protocol/errors";
import type { CumulusClient } from "../client.ts";
import type { ProgressListener } from "../progress.ts";
import { emptyProgress } from "../progress.ts";
import { uploadContent, type ManifestLike, type UploadOptions, type UploadResult } from "../upload.ts";
import { FileReceiptJournal } from "./journal.ts";
import { localError } from "./local-errors.ts";

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
}

export function sha256Node(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Chunks a file (streamed: memory stays at a few chunks) and reports hashing progress. */
export async function chunkLocalFile(
  localPath: string,
  opts: { onProgress?: ProgressListener; signal?: AbortSignal } = {},
): Promise<ManifestLike> {
  const size = (await stat(localPath)).size;
  const progress = emptyProgress("hashing", size, 0);
  const chunks: { id: string; size: number }[] = [];
  let total = 0;
  const stream = createReadStream(localPath, { highWaterMark: 1024 * 1024, signal: opts.signal });
  for await (const rec of chunkStream(stream)) {
    chunks.push({ id: rec.id, size: rec.size });
    total += rec.size;
    progress.bytesDone = total;
    progress.chunksTotal = chunks.length;
    opts.onProgress?.({ ...progress });
  }
  return { size: total, chunks };
}

/** Reads exactly `size` bytes at `offset` (a single read may return fewer). */
async function readAt(fh: Awaited<ReturnType<typeof open>>, offset: number, size: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === size ? buf : buf.subarray(0, got);
}

/**
 * Uploads one local file. Chunk bytes are read from the file by offset when they are
 * sent, so memory stays at `concurrency` chunks whatever the file size; with a
 * `journalDir` an interrupted upload resumes without re-sending the chunks it had sent.
 */
export async function uploadFile(client: CumulusClient, opts: UploadFileOptions): Promise<UploadResult> {
  const io = opts.chunkIo ? null : await openTransport(opts.transport, client.site);
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
 * The UDT transport for `transport` ("udt" | "auto"), loaded only then (dynamic import:
 * the native addon is never loaded for HTTP), or null for HTTP.
 */
export async function openTransport(
  transport: "udt" | "http" | "auto" | undefined,
  site: string | null,
): Promise<(import("../chunks.ts").ChunkIo & { close(): void }) | null> {
  if (transport === undefined || transport === "http") return null;
  const { createChunkTransport } = await import("./udt-transport.ts");
  return createChunkTransport(transport, site);
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
  try {
    const st = await stat(opts.localPath);
    if (!st.isFile()) throw new AppError("BAD_REQUEST", `${opts.localPath} is not a regular file`);
    manifest = await chunkLocalFile(opts.localPath, { onProgress: opts.onProgress, signal: opts.signal });
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
    const journal = opts.journalDir
      ? new FileReceiptJournal(opts.journalDir, opts.localPath, opts.remotePath, manifest)
      : undefined;
    return await uploadContent(
      client,
      {
        manifest,
        label: opts.localPath,
        hash: sha256Node,
        read: async (offset, size) => {
          try {
            return await readAt(fh, offset, size);
          } catch (err) {
            throw localError(err, opts.localPath);
          }
        },
      },
      { ...opts, path: opts.remotePath, baseVersion, journal },
    );
  } finally {
    await fh.close();
  }
}
