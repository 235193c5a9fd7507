// Node entry point: chunking of streams and files with node:crypto hashing.

import { createHash } from "node:crypto";
import { open, type FileHandle } from "node:fs/promises";
import { FastCdc, type FastCdcOptions } from "./fastcdc.ts";
import { ChunkHashWorker } from "./hash-worker.ts";
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

export interface ScannedChunk {
  index: number;
  offset: number;
  size: number;
  /** SHA-256 of the chunk, 64 lowercase hex. */
  id: string;
  /**
   * The chunk's bytes when `keep` was given (often a view into a shared read block), else
   * null. Valid until `release()`.
   */
  data: Buffer | null;
  /** The consumer is done with `data`; its read block may be reused. Idempotent. */
  release(): void;
}

export interface ScanFileOptions extends FastCdcOptions {
  /** Bytes per read call (default 8 MiB). */
  blockSize?: number;
  /**
   * Hand each chunk's bytes to the consumer. Read blocks stay pinned until every chunk in
   * them is released, and at most `maxBlocks` exist (memory bound: maxBlocks × blockSize
   * plus chunks that straddle blocks). When all are pinned the scan waits for a release,
   * after calling `onStall` so the consumer can get things moving.
   */
  keep?: { maxBlocks: number; onStall?: () => void };
  /**
   * Hash the chunks on this worker thread while the main thread reads and cuts: the pass
   * then uses two cores. Read blocks are SharedArrayBuffers, pinned until their chunks are
   * hashed. Not with `keep` (the chunks' bytes are not handed out).
   */
  hashWorker?: ChunkHashWorker;
  signal?: AbortSignal;
}

interface Block {
  buf: Buffer;
  refs: number;
}

const DEFAULT_SCAN_BLOCK = 8 * 1024 * 1024;
/** Chunks cut but not yet handed to `onChunk` (hashing or waiting their turn) with a hash worker. */
const MAX_QUEUED_CHUNKS = 256;
const SMALL_FILE = 1024 * 1024;
const noop = () => {};

/**
 * The `blockSize` for scanning a file of `size` bytes when it is small (below 1 MiB): one read
 * block of its own size (the default 8 MiB blocks, allocated per file, made garbage collection
 * most of the CPU for runs of small files). `undefined` (the default) for larger files.
 */
export function smallFileBlockSize(size: number): number | undefined {
  return size < SMALL_FILE ? Math.max(4096, size + 1) : undefined;
}

/**
 * Reads an open file once, front to back, with large reads (the next one runs while the
 * current block is cut and hashed) and cuts and hashes it in place: no per-chunk copies
 * except for chunks that straddle two reads. Calls `onChunk` in order (awaiting it) and
 * resolves with the number of bytes read. Same cut points and ids as `chunkStream`.
 */
export async function scanFile(
  fh: FileHandle,
  opts: ScanFileOptions,
  onChunk: (chunk: ScannedChunk) => void | Promise<void>,
): Promise<number> {
  const blockSize = opts.blockSize ?? DEFAULT_SCAN_BLOCK;
  if (!Number.isSafeInteger(blockSize) || blockSize <= 0) {
    throw new RangeError(`blockSize must be a positive integer, got ${blockSize}`);
  }
  const keep = opts.keep;
  const hw = opts.hashWorker;
  if (hw && keep) throw new TypeError("scanFile: hashWorker and keep cannot be combined");
  const cdc = new FastCdc(opts);
  // An open chunk pins every block it spans; one more is needed to read on. With a hash
  // worker, one more again so that cutting can run ahead of hashing.
  const spanBlocks = Math.ceil(cdc.params.maxSize / blockSize);
  const maxBlocks = keep ? Math.max(keep.maxBlocks, spanBlocks + 2) : hw ? spanBlocks + 3 : 2;
  const alloc = hw ? () => Buffer.from(new SharedArrayBuffer(blockSize)) : () => Buffer.allocUnsafeSlow(blockSize);
  const free: Block[] = [];
  let blocks = 0;
  let waiters: (() => void)[] = [];
  const unref = (b: Block) => {
    if (--b.refs > 0) return;
    free.push(b);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const tryBlock = (): Block | null => {
    const b = free.pop();
    if (b) return b;
    if (blocks >= maxBlocks) return null;
    blocks++;
    return { buf: alloc(), refs: 0 };
  };
  const getBlock = async (): Promise<Block> => {
    for (;;) {
      let b = tryBlock();
      if (b) return b;
      keep?.onStall?.();
      // onStall may have released blocks synchronously.
      b = tryBlock();
      if (b) return b;
      await new Promise<void>((r) => waiters.push(r));
      opts.signal?.throwIfAborted();
    }
  };

  let readPos = 0;
  let eof = false;
  const startRead = (b: Block): Promise<{ b: Block; n: number }> => {
    b.refs++;
    const at = readPos;
    readPos += blockSize;
    return (async () => {
      let n = 0;
      while (n < blockSize) {
        const { bytesRead } = await fh.read(b.buf, n, blockSize - n, at + n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return { b, n };
    })();
  };

  let hash = createHash("sha256");
  // The open chunk's bytes in earlier blocks (pinned), when keeping data.
  let pieces: { b: Block; start: number; end: number }[] = [];
  /** Bytes of the open chunk in earlier blocks. */
  let carried = 0;
  let index = 0;
  let offset = 0;

  // With a hash worker: chunks are delivered to onChunk in order as their hashes arrive.
  let delivery: Promise<void> = Promise.resolve();
  let queued = 0;
  let deliveryFailed: { err: unknown } | null = null;
  const emitToWorker = async (worker: ChunkHashWorker, b: Block | null, from: number, to: number) => {
    const parts = pieces;
    if (b && to > from) {
      b.refs++;
      parts.push({ b, start: from, end: to });
    }
    pieces = [];
    const size = carried + (to - from);
    carried = 0;
    const at = { index, offset, size };
    index++;
    offset += size;
    const id = worker.hash(parts.map((p) => ({ buf: p.b.buf, start: p.start, end: p.end })));
    // The blocks go back once hashed, whatever becomes of the delivery: after a failed
    // onChunk nothing is delivered any more, and the read loop must not wait for blocks.
    const unpin = () => {
      for (const p of parts) unref(p.b);
    };
    id.then(unpin, unpin);
    queued++;
    delivery = delivery.then(async () => {
      const chunkId = await id;
      queued--;
      await onChunk({ ...at, id: chunkId, data: null, release: noop });
    });
    delivery.catch((err: unknown) => {
      deliveryFailed ??= { err };
    });
    if (deliveryFailed) throw (deliveryFailed as { err: unknown }).err;
    if (queued > MAX_QUEUED_CHUNKS) await delivery;
  };

  const emit = async (b: Block | null, from: number, to: number) => {
    if (hw) return emitToWorker(hw, b, from, to);
    if (b) hash.update(b.buf.subarray(from, to));
    const id = hash.digest("hex");
    hash = createHash("sha256");
    const size = carried + (to - from);
    let data: Buffer | null = null;
    let release = noop;
    if (keep) {
      if (pieces.length === 0 && b) {
        data = b.buf.subarray(from, to);
        b.refs++;
        let done = false;
        release = () => {
          if (done) return;
          done = true;
          unref(b);
        };
      } else {
        data = Buffer.allocUnsafeSlow(size);
        let at = 0;
        for (const p of pieces) {
          at += p.b.buf.copy(data, at, p.start, p.end);
          unref(p.b);
        }
        if (b) b.buf.copy(data, at, from, to);
      }
    }
    pieces = [];
    carried = 0;
    const rec: ScannedChunk = { index, offset, size, id, data, release };
    index++;
    offset += size;
    await onChunk(rec);
  };

  let next: Promise<{ b: Block; n: number }> | null = startRead(await getBlock());
  try {
    while (next) {
      const { b, n } = await next;
      next = null;
      if (n === 0) {
        unref(b);
        eof = true;
        break;
      }
      opts.signal?.throwIfAborted();
      if (n === blockSize) {
        const nb = tryBlock();
        if (nb) next = startRead(nb);
      }
      const view = b.buf.subarray(0, n);
      const base = cdc.position;
      let from = 0;
      for (const cut of cdc.push(view)) {
        const to = cut - base;
        await emit(b, from, to);
        from = to;
      }
      if (from < n) {
        if (!hw) hash.update(view.subarray(from));
        carried += n - from;
        if (keep || hw) {
          b.refs++;
          pieces.push({ b, start: from, end: n });
        }
      }
      unref(b);
      if (n < blockSize) {
        eof = true;
        break;
      }
      next ??= startRead(await getBlock());
    }
    if (cdc.finish().length > 0) await emit(null, 0, 0);
    await delivery;
  } finally {
    if (!eof && next) await next.catch(() => undefined);
    // No onChunk call may still be running (or start) once the scan has settled, also
    // when it ends in an error.
    await delivery.catch(noop);
    if (keep || hw) for (const p of pieces) unref(p.b);
  }
  return offset;
}

/**
 * Files of at least this many bytes are hashed on a worker thread by `scanBigOrSmallFile`.
 * Starting one costs about 25 ms of CPU; a 1 GiB pass took 0.95-0.99 s with it against
 * 1.33-1.42 s without (idle 2-core machine, same ids), so below some tens of MiB it does
 * not pay.
 */
export const HASH_WORKER_MIN_BYTES = 64 * 1024 * 1024;

/**
 * `scanFile` of a local file of `size` bytes, with a hash worker of its own when the file
 * is big enough to gain from cutting and hashing on two cores (HASH_WORKER_MIN_BYTES).
 */
export async function scanBigOrSmallFile(
  fh: FileHandle,
  size: number,
  opts: Omit<ScanFileOptions, "hashWorker" | "keep">,
  onChunk: (chunk: ScannedChunk) => void | Promise<void>,
): Promise<number> {
  if (size < HASH_WORKER_MIN_BYTES) return scanFile(fh, opts, onChunk);
  const hashWorker = new ChunkHashWorker();
  try {
    return await scanFile(fh, { ...opts, hashWorker }, onChunk);
  } finally {
    await hashWorker.close();
  }
}
