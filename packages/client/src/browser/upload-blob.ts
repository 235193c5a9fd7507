import { chunkBlob, sha256HexAsync } from "@cumulus/chunking/browser";
import { AppError } from "@cumulus/protocol/errors";
import type { CumulusClient } from "../client.ts";
import { emptyProgress } from "../progress.ts";
import {
  uploadContent,
  type ManifestLike,
  type ReceiptJournal,
  type UploadOptions,
  type UploadResult,
} from "../upload.ts";

export interface UploadBlobOptions extends Omit<UploadOptions, "baseVersion" | "journal"> {
  /** Version the upload replaces; null (default) creates a new file. */
  baseVersion?: number | null;
  /** Optional receipt store (e.g. IndexedDB-backed) to resume after a reload. */
  journal?: ReceiptJournal;
}

/** Chunks a Blob with Web Crypto; only ids and sizes are kept, the bytes are re-read on send. */
export async function chunkBlobManifest(
  blob: Blob,
  opts: Pick<UploadOptions, "onProgress" | "signal"> = {},
): Promise<ManifestLike> {
  const progress = emptyProgress("hashing", blob.size, 0);
  const chunks: { id: string; size: number }[] = [];
  let total = 0;
  for await (const rec of chunkBlob(blob)) {
    opts.signal?.throwIfAborted();
    chunks.push({ id: rec.id, size: rec.size });
    total += rec.size;
    progress.bytesDone = total;
    progress.chunksTotal = chunks.length;
    opts.onProgress?.({ ...progress });
  }
  return { size: total, chunks };
}

/**
 * Browser-safe upload of a File/Blob (global fetch and Web Crypto only), same protocol
 * as the Node file upload. Memory stays at `concurrency` chunks: each chunk is sliced
 * from the Blob again when it is sent.
 */
export async function uploadBlob(client: CumulusClient, blob: Blob, opts: UploadBlobOptions): Promise<UploadResult> {
  try {
    return await uploadBlobInner(client, blob, opts);
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw err;
  }
}

async function uploadBlobInner(client: CumulusClient, blob: Blob, opts: UploadBlobOptions): Promise<UploadResult> {
  const manifest = await chunkBlobManifest(blob, opts);
  const label = typeof (blob as File).name === "string" && (blob as File).name ? (blob as File).name : "the file";
  return uploadContent(
    client,
    {
      manifest,
      label,
      hash: sha256HexAsync,
      read: async (offset, size) => {
        try {
          return new Uint8Array(await blob.slice(offset, offset + size).arrayBuffer());
        } catch (err) {
          throw new AppError(
            "BAD_REQUEST",
            `${label} could not be read: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      },
    },
    { ...opts, baseVersion: opts.baseVersion ?? null },
  );
}
