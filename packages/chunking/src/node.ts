// Node entry point: chunking of streams and files with node:crypto hashing.

import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { FastCdcOptions } from "./fastcdc.ts";
import { canonicalManifestBytes, collectManifest, type Manifest } from "./manifest.ts";
import { assembleChunks, type ChunkRecord } from "./stream.ts";

export type { ChunkRecord } from "./stream.ts";

export type NodeChunkRecord = ChunkRecord<Buffer>;

export interface ChunkFileOptions extends FastCdcOptions {
  /** Bytes read from the file per read call. Default 1 MiB. */
  readSize?: number;
}

const DEFAULT_READ_SIZE = 1024 * 1024;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** SHA-256 of the canonical manifest encoding: a stable id for a file version's content. */
export function manifestDigest(manifest: Manifest): string {
  return sha256Hex(canonicalManifestBytes(manifest));
}

const allocBuffer = (size: number): Buffer => Buffer.allocUnsafe(size);

/**
 * Chunks a stream of byte blocks (any block sizes, e.g. a fs.ReadStream or a
 * fetch body) and yields records in order. Memory stays around maxSize plus
 * one source block regardless of stream length; the source may reuse its
 * block buffers between iterations.
 */
export function chunkStream(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  opts?: FastCdcOptions,
): AsyncGenerator<NodeChunkRecord, void, undefined> {
  return assembleChunks(source, opts, { hash: sha256Hex, alloc: allocBuffer });
}

/**
 * Reads a file through one reused buffer (plus one for read-ahead), so files
 * of any size are chunked in bounded memory.
 */
async function* readFileBlocks(path: string, readSize: number): AsyncGenerator<Uint8Array, void, undefined> {
  const fh = await open(path, "r");
  let pending: Promise<{ bytesRead: number }> | undefined;
  try {
    // Double buffering: the next read runs while the consumer chunks and
    // hashes the current block. A buffer is only refilled once the consumer
    // has asked for the next block, i.e. is done with it.
    let cur = Buffer.allocUnsafe(readSize);
    let next = Buffer.allocUnsafe(readSize);
    pending = fh.read(cur, 0, readSize, null);
    for (;;) {
      const { bytesRead } = await pending;
      pending = undefined;
      if (bytesRead === 0) return;
      const filled = cur;
      pending = fh.read(next, 0, readSize, null);
      yield filled.subarray(0, bytesRead);
      cur = next;
      next = filled;
    }
  } finally {
    // The consumer may stop early while a read-ahead is in flight; closing
    // the handle under it would make that read fail unobserved.
    if (pending) await pending.catch(() => undefined);
    await fh.close();
  }
}

/**
 * Chunks a file and yields records with their data (e.g. for upload), reading
 * through reused buffers. Stopping early (break) closes the file.
 */
export function chunkFileStream(
  path: string,
  opts: ChunkFileOptions = {},
): AsyncGenerator<NodeChunkRecord, void, undefined> {
  const readSize = opts.readSize ?? DEFAULT_READ_SIZE;
  if (!Number.isSafeInteger(readSize) || readSize <= 0) {
    throw new RangeError(`readSize must be a positive integer, got ${readSize}`);
  }
  return chunkStream(readFileBlocks(path, readSize), opts);
}

/** Chunks a file of any size (streamed, never fully in memory) and returns its manifest. */
export async function chunkFile(path: string, opts: ChunkFileOptions = {}): Promise<Manifest> {
  return collectManifest(chunkFileStream(path, opts));
}
