import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { chunkStream } from "@cumulus/chunking/node";

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

const SMALL = 1024 * 1024;

/** Chunks and hashes a local file (small files read at once, large ones streamed). */
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
  const source =
    size <= SMALL ? [await readFile(path, { signal })] : createReadStream(path, { highWaterMark: SMALL, signal });
  let total = 0;
  for await (const rec of chunkStream(source)) {
    chunks.push({ id: rec.id, size: rec.size });
    total += rec.size;
  }
  return { hash: contentHashOf(chunks), size: total, chunks };
}
