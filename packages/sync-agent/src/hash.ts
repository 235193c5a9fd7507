import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { scanBigOrSmallFile, smallFileBlockSize } from "@cumulus/chunking/node";

/**
 * The content hash both sides compare: the control plane's `FileVersion.contentHash`
 * (SHA-256 over "<chunkId>:<size>\n" per chunk, see control/src/uploads/commit-upload.ts)
 * of the FastCDC chunks the client uploads. The agent computes it over a local file with
 * the same chunker, so equal content means equal hashes without asking the server.
 */
export function contentHashOf(chunks: readonly { id: string; size: number }[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(`${c.id}:${c.size}\n`);
  return h.digest("hex");
}

const MiB = 1024 * 1024;

/** Chunks and hashes a local file (read once, in blocks sized to the file: see chunkAndHashFile). */
export async function hashFile(path: string, size: number, signal?: AbortSignal): Promise<string> {
  return (await chunkAndHashFile(path, size, signal)).hash;
}

/** `hashFile`, also returning the chunk list it hashed (an upload can reuse it: see LocalScanner.manifests). */
export async function chunkAndHashFile(
  path: string,
  size: number,
  signal?: AbortSignal,
): Promise<{ hash: string; size: number; chunks: { id: string; size: number }[] }> {
  const chunks: { id: string; size: number }[] = [];
  // scanFile cuts and hashes in its read blocks; chunkStream (used before) copied every
  // chunk out first, which was a third of agent A's CPU for a big file (docs/benchmarks.md).
  // A small file is read in one block of its own size (as the SDK's upload does), one below
  // 8 MiB in 1 MiB blocks, a big one in the default 8 MiB blocks.
  const blockSize = smallFileBlockSize(size) ?? (size < 8 * MiB ? MiB : undefined);
  const fh = await open(path, "r");
  try {
    const total = await scanBigOrSmallFile(fh, size, { signal, ...(blockSize ? { blockSize } : {}) }, (rec) => {
      chunks.push({ id: rec.id, size: rec.size });
    });
    return { hash: contentHashOf(chunks), size: total, chunks };
  } finally {
    await fh.close();
  }
}
