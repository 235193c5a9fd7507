import { createHash } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { AppError } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES } from "@cumulus/protocol/ids";

export interface ChunkInfo {
  id: string;
  size: number;
  /** When the chunk file was last written (ms since the epoch), where the store knows. */
  mtimeMs?: number;
}

export interface DeleteOptions {
  /**
   * Keep the chunk (and answer "modified") when it was written after this instant (ms
   * since the epoch): a delete decided before a fresh copy arrived must not remove it.
   */
  ifUnmodifiedSince?: number;
}

/** What delete did: removed it, it was not there, or it was kept because it is newer. */
export type DeleteOutcome = "deleted" | "absent" | "modified";

export interface StoreUsage {
  capacityBytes: number;
  usedBytes: number;
  chunkCount: number;
  /** What can still be stored: capacity less used and reserved, or the disk's free space if less. */
  availableBytes: number;
}

export interface PutResult {
  id: string;
  size: number;
  /** false when the chunk was already present (the PUT was a verified no-op or a heal). */
  created: boolean;
}

/** An open chunk. Call exactly one of readAll / readRange, or close. */
export interface ChunkHandle {
  readonly id: string;
  readonly size: number;
  /**
   * The whole chunk, hashed while it streams. The last piece is held back until the hash
   * is checked, so a corrupt chunk ends in a stream error, never in a clean end.
   */
  readAll(): Readable;
  /** Inclusive byte range, served only after the whole chunk verified (result cached). */
  readRange(start: number, end: number): Promise<Readable>;
  /**
   * The whole chunk in one buffer (`into` when it is large enough: a view of it), verified
   * before it is returned; a corrupt chunk is quarantined and a NOT_FOUND thrown instead, so
   * nothing of it is ever sent. Closes the handle.
   */
  readVerified(into?: Buffer): Promise<Buffer>;
  /**
   * The whole chunk in one buffer like readVerified, but not hashed: only for a repair
   * copy to another node, whose own check on arrival stands for this one (a mismatch
   * there sends the copy back to readVerified, which quarantines and reports a bad file).
   * Never for bytes a client receives. Closes the handle.
   */
  readUnverified?(into?: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export interface ChunkStore {
  /** Stores `body` as chunk `id` durably, or throws an AppError and stores nothing. */
  put(id: string, body: AsyncIterable<Uint8Array>, declaredSize: number): Promise<PutResult>;
  /** null when absent or known corrupt. */
  open(id: string): Promise<ChunkHandle | null>;
  stat(id: string): Promise<ChunkInfo | null>;
  /** false when the chunk was not present. */
  delete(id: string): Promise<boolean>;
  /** delete with conditions; see DeleteOptions. */
  deleteIf(id: string, opts: DeleteOptions): Promise<DeleteOutcome>;
  /** Chunks in id order, strictly after `after`. */
  list(after: string | null, limit: number): Promise<ChunkInfo[]>;
  usage(): StoreUsage;
  /** usage() with the file system's free space measured now (heartbeats send it). */
  measureUsage(): Promise<StoreUsage>;
  close(): Promise<void>;
  /**
   * Optional two-step put for bulk copies (the reconciler's batched replication): `stage`
   * writes and verifies a chunk without making it durable or visible; `commitStaged`
   * makes many staged chunks durable together (their fsyncs issued at once, so the
   * filesystem groups them into few journal commits) and then visible. A chunk is never
   * visible, and never reported stored, before its own data and directory entry are
   * flushed. Stores without it get plain `put`s.
   */
  stage?(id: string, body: AsyncIterable<Uint8Array>, declaredSize: number): Promise<StagedChunk>;
  /**
   * `stage` for a chunk whose bytes are already in memory (a chunk batch): verified by
   * hash before anything is written, then staged like `stage` does, at less cost per chunk.
   */
  stageBytes?(id: string, data: Uint8Array): Promise<StagedChunk>;
  /** One result per staged chunk, in order: stored, or the error that lost it. */
  commitStaged?(staged: readonly StagedChunk[]): Promise<(PutResult | Error)[]>;
  /** Drops staged chunks that will not be committed. */
  discardStaged?(staged: readonly StagedChunk[]): Promise<void>;
}

/** A chunk written and verified but not yet durable or visible (see ChunkStore.stage). */
export interface StagedChunk {
  readonly id: string;
  readonly size: number;
}

export interface StoreHooks {
  /** Called once per chunk found corrupt (metrics, logs). */
  onCorrupt?: (id: string, reason: string) => void;
}

export function diskFull(nodeName: string, detail: string): AppError {
  return new AppError("DISK_FULL", `storage node ${nodeName} is full: ${detail}`, { node: nodeName });
}

/** Throws DISK_FULL unless `reserve` more bytes fit beside those `used` and `reserved`. */
export function checkCapacity(
  nodeName: string,
  declaredSize: number,
  reserve: number,
  bytes: { used: number; reserved: number; capacity: number },
): void {
  if (bytes.used + bytes.reserved + reserve > bytes.capacity) {
    throw diskFull(
      nodeName,
      `storing ${declaredSize} more bytes would exceed its capacity (${bytes.used} of ${bytes.capacity} bytes used)`,
    );
  }
}

export function checkDeclaredSize(id: string, declaredSize: number): void {
  if (!Number.isSafeInteger(declaredSize) || declaredSize <= 0) {
    throw new AppError("BAD_REQUEST", `chunk ${id}: declared size must be a positive integer, got ${declaredSize}`);
  }
  if (declaredSize > MAX_CHUNK_BYTES) {
    throw new AppError(
      "PAYLOAD_TOO_LARGE",
      `chunk ${id}: ${declaredSize} bytes exceeds the maximum chunk size of ${MAX_CHUNK_BYTES} bytes`,
    );
  }
}

/**
 * Drains `body` into `sink` while hashing and counting, and throws (after the sink saw
 * some bytes, which the caller must discard) unless exactly `declaredSize` bytes arrived
 * and they hash to `id`.
 */
export async function consumeVerified(
  id: string,
  body: AsyncIterable<Uint8Array>,
  declaredSize: number,
  sink: (buf: Uint8Array) => Promise<void> | void,
): Promise<void> {
  const hash = createHash("sha256");
  let received = 0;
  for await (const buf of body) {
    received += buf.byteLength;
    if (received > declaredSize) {
      throw new AppError("BAD_REQUEST", `chunk ${id}: body is longer than the declared ${declaredSize} bytes`);
    }
    hash.update(buf);
    await sink(buf);
  }
  if (received !== declaredSize) {
    throw new AppError("TRUNCATED", `chunk ${id}: body ended after ${received} of ${declaredSize} declared bytes`, {
      received,
      declared: declaredSize,
    });
  }
  const actual = hash.digest("hex");
  if (actual !== id) {
    throw new AppError("HASH_MISMATCH", `chunk ${id}: body hashes to ${actual}, not to the chunk id`, { actual });
  }
}

/**
 * Passes bytes through while hashing them, always holding back the most recent piece:
 * only when the source ended and the digest matches is that piece released and the
 * stream ended. On mismatch `onMismatch` runs and the stream errors instead, so an HTTP
 * response with a Content-Length can never complete with corrupt bytes.
 */
export function verifyingStream(id: string, expectedSize: number, onMismatch: (reason: string) => void): Transform {
  const hash = createHash("sha256");
  let pending: Buffer | null = null;
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      seen += chunk.length;
      const out = pending;
      pending = chunk;
      cb(null, out ?? undefined);
    },
    flush(cb: TransformCallback) {
      const actual = hash.digest("hex");
      if (actual !== id || seen !== expectedSize) {
        const reason = seen !== expectedSize ? `read ${seen} of ${expectedSize} bytes` : `content hashes to ${actual}`;
        onMismatch(reason);
        cb(
          new AppError(
            "INTERNAL",
            `chunk ${id} failed verification while being served (${reason}); it has been quarantined`,
          ),
        );
        return;
      }
      if (pending) this.push(pending);
      pending = null;
      cb();
    },
  });
}

/** Serialises async critical sections per key (here: per chunk id). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** True when nothing holds or waits for `key`: synchronous work on it cannot interleave. */
  idle(key: string): boolean {
    return !this.tails.has(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** A body of one piece, for a chunk already whole in memory. */
export async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}
