// Browser entry point: chunks a File/Blob with Web Crypto hashing. Uses only
// web-platform APIs (Blob.slice, crypto.subtle), so it also runs in Node >= 20,
// which is how the tests compare it with the Node path.

import type { FastCdcOptions } from "./fastcdc.ts";
import { canonicalManifestBytes, type Manifest } from "./manifest.ts";
import { assembleChunks, type ChunkRecord } from "./stream.ts";

export type { ChunkRecord } from "./stream.ts";

export interface ChunkBlobOptions extends FastCdcOptions {
  /** Bytes per Blob slice read. Default 4 MiB. */
  readSize?: number;
}

const DEFAULT_READ_SIZE = 4 * 1024 * 1024;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function toHex(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]!;
  return s;
}

export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  // Cast: TS's BufferSource excludes views over a possibly-shared buffer; ours are never shared.
  return toHex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

export async function manifestDigest(manifest: Manifest): Promise<string> {
  return sha256HexAsync(canonicalManifestBytes(manifest));
}

/** Reads a Blob slice by slice, prefetching the next slice while the current one is chunked. */
async function* blobBlocks(blob: Blob, readSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  const size = blob.size;
  let pos = 0;
  const read = (at: number): Promise<ArrayBuffer> => blob.slice(at, Math.min(size, at + readSize)).arrayBuffer();
  let pending: Promise<ArrayBuffer> | undefined = size > 0 ? read(0) : undefined;
  try {
    while (pending) {
      const buf = await pending;
      pending = undefined;
      if (buf.byteLength === 0) throw new Error(`Blob ended early at ${pos} of ${size} bytes`);
      pos += buf.byteLength;
      // Each slice read returns a fresh ArrayBuffer, so prefetching cannot clobber the block being consumed.
      if (pos < size) pending = read(pos);
      yield new Uint8Array(buf);
    }
  } finally {
    if (pending) await pending.catch(() => undefined);
  }
}

/**
 * Chunks a File/Blob and yields the same records as the Node `chunkStream`
 * would for the same bytes (data is a plain Uint8Array). Memory stays around
 * maxSize plus two read slices.
 */
export function chunkBlob(
  blob: Blob,
  opts: ChunkBlobOptions = {},
): AsyncGenerator<ChunkRecord<Uint8Array>, void, undefined> {
  const readSize = opts.readSize ?? DEFAULT_READ_SIZE;
  if (!Number.isSafeInteger(readSize) || readSize <= 0)
    throw new RangeError(`readSize must be a positive integer, got ${readSize}`);
  return assembleChunks(blobBlocks(blob, readSize), opts, {
    hash: sha256HexAsync,
    alloc: (size) => new Uint8Array(size),
  });
}

/** Streams any byte source (e.g. a fetch body reader adapted to async iteration) with Web Crypto hashing. */
export function chunkBytesAsync(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts?: FastCdcOptions,
): AsyncGenerator<ChunkRecord<Uint8Array>, void, undefined> {
  return assembleChunks(source, opts, { hash: sha256HexAsync, alloc: (size) => new Uint8Array(size) });
}
