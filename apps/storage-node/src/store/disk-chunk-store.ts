import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fdatasync,
  fstatSync,
  lstatSync,
  openSync,
  renameSync,
  writeSync,
  type Stats,
} from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, statfs, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { pipeline, type Readable } from "node:stream";
import { AppError } from "@cumulus/protocol/errors";
import {
  checkCapacity,
  checkDeclaredSize,
  consumeVerified,
  diskFull,
  KeyedMutex,
  once,
  verifyingStream,
  type ChunkHandle,
  type ChunkInfo,
  type ChunkStore,
  type DeleteOptions,
  type DeleteOutcome,
  type PutResult,
  type StagedChunk,
  type StoreHooks,
  type StoreUsage,
} from "./chunk-store.ts";
import { errnoCode, fsyncDir, fsyncDirHot } from "./fs-util.ts";

const ID_RE = /^[0-9a-f]{64}$/;
const FANOUT_RE = /^[0-9a-f]{2}$/;
/** Coalesce small socket reads into larger writes: one syscall per ~512 KiB, not per 16 KiB. */
const WRITE_BATCH_BYTES = 512 * 1024;
const READ_HIGH_WATER = 256 * 1024;
const VERIFIED_CACHE_MAX = 100_000;
/**
 * Up to this size a chunk batch's chunk is written with synchronous calls on the main
 * thread (open, write: page-cache work of microseconds), leaving only the fdatasync and the
 * directory fsync to the thread pool: each thread-pool round trip and its promises cost
 * more CPU than such a write itself. Larger chunks keep the asynchronous path.
 */
const SYNC_STAGE_MAX_BYTES = 64 * 1024;

export interface DiskChunkStoreOptions extends StoreHooks {
  dataDir: string;
  /** Used in error messages so a client of a pipeline knows which node refused. */
  nodeName: string;
  /** Defaults to the size of the filesystem holding dataDir. */
  capacityBytes?: number | undefined;
  /** Called for files found in chunks/ that do not belong there. */
  onStrayFile?: (file: string) => void;
}

interface DiskStagedChunk extends StagedChunk {
  readonly tmpPath: string;
  /** Exactly one of fh (stage) and fd (stageBytes) is set. */
  readonly fh: FileHandle | null;
  readonly fd: number | null;
  /** Capacity reserved for it until it is committed or discarded. */
  readonly reserve: number;
  /**
   * Its data flush (fh-staged chunks), started as soon as it is written: the disk writes
   * while the rest of the batch arrives instead of all at once when it is committed.
   * Null for fd-staged chunks, which commitStaged flushes with one datasync-and-close.
   */
  readonly flushed: Promise<void> | null;
}

interface VerifiedStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

/**
 * Chunks live at <dataDir>/chunks/ab/cd/<id>: two fan-out levels keep directories small
 * enough for fast lookups at tens of millions of chunks. Writes go to <dataDir>/tmp and
 * are renamed into place only after the content hashed to the id and was fsynced, so a
 * file under chunks/ is always complete.
 */
export class DiskChunkStore implements ChunkStore {
  readonly dataDir: string;
  private readonly chunksDir: string;
  private readonly tmpDir: string;
  private readonly corruptDir: string;
  private readonly nodeName: string;
  private readonly hooks: StoreHooks;
  private capacityBytes = 0;
  /** The file system's free space at the last measureUsage(); null before the first. */
  private fsAvailableBytes: number | null = null;
  private usedBytes = 0;
  private chunkCount = 0;
  /** Bytes of in-flight writes, so concurrent PUTs cannot jointly overshoot capacity. */
  private reservedBytes = 0;
  /** Staged chunks neither committed nor discarded yet: close() releases them. */
  private readonly staged = new Set<DiskStagedChunk>();
  private readonly mutex = new KeyedMutex();
  private readonly knownDirs = new Set<string>();
  /** Chunks found corrupt that could not be moved away yet: hidden from reads and listings. */
  private readonly corrupt = new Set<string>();
  private readonly verified = new Map<string, VerifiedStamp>();

  private constructor(opts: DiskChunkStoreOptions) {
    this.dataDir = opts.dataDir;
    this.chunksDir = path.join(opts.dataDir, "chunks");
    this.tmpDir = path.join(opts.dataDir, "tmp");
    this.corruptDir = path.join(opts.dataDir, "corrupt");
    this.nodeName = opts.nodeName;
    this.hooks = opts;
  }

  static async open(opts: DiskChunkStoreOptions): Promise<DiskChunkStore> {
    const store = new DiskChunkStore(opts);
    await store.init(opts);
    return store;
  }

  private async init(opts: DiskChunkStoreOptions): Promise<void> {
    for (const dir of [this.chunksDir, this.tmpDir, this.corruptDir]) await mkdir(dir, { recursive: true });
    // All 256 first-level fan-out directories up front (one fsync for all of them), so a
    // chunk in a new second-level directory costs one directory fsync, not two.
    const top = await readdir(this.chunksDir);
    if (top.filter((n) => FANOUT_RE.test(n)).length < 256) {
      for (let i = 0; i < 256; i++)
        await mkdir(path.join(this.chunksDir, i.toString(16).padStart(2, "0")), { recursive: true });
      await fsyncDir(this.chunksDir);
    }
    // Anything in tmp/ is a write that never committed (crash, kill): never valid data.
    for (const entry of await readdir(this.tmpDir))
      await rm(path.join(this.tmpDir, entry), { force: true, recursive: true });
    if (opts.capacityBytes !== undefined) {
      this.capacityBytes = opts.capacityBytes;
    } else {
      const fs = await statfs(this.dataDir);
      this.capacityBytes = fs.blocks * fs.bsize;
    }
    await this.walk(
      null,
      (_id, st) => {
        this.usedBytes += st.size;
        this.chunkCount += 1;
        return true;
      },
      opts.onStrayFile,
    );
  }

  usage(): StoreUsage {
    const room = Math.max(0, this.capacityBytes - this.usedBytes - this.reservedBytes);
    return {
      capacityBytes: this.capacityBytes,
      usedBytes: this.usedBytes,
      chunkCount: this.chunkCount,
      availableBytes: this.fsAvailableBytes === null ? room : Math.min(room, this.fsAvailableBytes),
    };
  }

  /**
   * The capacity is the disk's size (or what was configured), but other data may share the
   * disk: the free space the file system reports bounds what can still be stored, and the
   * control plane stops placing new copies here when it runs low.
   */
  async measureUsage(): Promise<StoreUsage> {
    try {
      const fs = await statfs(this.dataDir);
      this.fsAvailableBytes = fs.bavail * fs.bsize;
    } catch {
      // Keep the last measurement: a heartbeat must not fail over a statfs hiccup.
    }
    return this.usage();
  }

  private chunkDir(id: string): string {
    return path.join(this.chunksDir, id.slice(0, 2), id.slice(2, 4));
  }

  private chunkPath(id: string): string {
    return path.join(this.chunkDir(id), id);
  }

  async put(id: string, body: AsyncIterable<Uint8Array>, declaredSize: number): Promise<PutResult> {
    const reserve = await this.reserve(id, declaredSize);
    const tmpPath = this.tmpPathFor(id);
    let fh: FileHandle | undefined;
    // The fan-out directory (and its durability) is settled while the body arrives, off
    // the path between the last byte and the answer.
    const dirReady = this.ensureDir(this.chunkDir(id));
    dirReady.catch(() => {});
    try {
      fh = await open(tmpPath, "wx", 0o644);
      await writeVerified(fh, id, body, declaredSize);
      // fdatasync: enough for a freshly written file (see datasyncAndClose).
      await fh.datasync();
      // Same inode and mtime after the rename: the stamp that marks it verified.
      const st = await fh.stat();
      await fh.close();
      fh = undefined;
      await dirReady;
      // An existing copy is replaced rather than trusted: content-addressed, so the
      // rename is a no-op for a good copy and a heal for a silently rotten one.
      return await this.commit(id, tmpPath, declaredSize, st);
    } catch (err) {
      throw await this.abandonWrite(id, tmpPath, fh, err);
    } finally {
      this.reservedBytes -= reserve;
    }
  }

  /**
   * Validates the declared size and reserves capacity for a write of chunk `id`; returns
   * the bytes reserved, which the caller must give back once the write ends either way.
   */
  private async reserve(id: string, declaredSize: number): Promise<number> {
    checkDeclaredSize(id, declaredSize);
    const existing = await lstatOrNull(this.chunkPath(id));
    // Rewriting a chunk that is already present costs no extra space.
    const reserve = existing === null ? declaredSize : 0;
    checkCapacity(this.nodeName, declaredSize, reserve, {
      used: this.usedBytes,
      reserved: this.reservedBytes,
      capacity: this.capacityBytes,
    });
    this.reservedBytes += reserve;
    return reserve;
  }

  private tmpPathFor(id: string): string {
    return path.join(this.tmpDir, `${id}.${randomBytes(8).toString("hex")}`);
  }

  /** Drops a failed write's temp file; returns the error to throw (out of space: DISK_FULL). */
  private async abandonWrite(id: string, tmpPath: string, fh: FileHandle | undefined, err: unknown): Promise<unknown> {
    await dropTemp(tmpPath, fh);
    const code = errnoCode(err);
    if (code === "ENOSPC" || code === "EDQUOT") {
      return diskFull(this.nodeName, `the filesystem ran out of space while writing chunk ${id}`);
    }
    return err;
  }

  /** Counts a chunk that just replaced `prev` (null: it is new) under its id. */
  private accountStored(id: string, size: number, prev: Stats | null): void {
    if (prev === null) {
      this.usedBytes += size;
      this.chunkCount += 1;
    } else {
      this.usedBytes += size - prev.size;
    }
    this.corrupt.delete(id);
  }

  private async commit(id: string, tmpPath: string, size: number, st: Stats): Promise<PutResult> {
    return this.mutex.run(id, async () => {
      const dir = this.chunkDir(id);
      const final = path.join(dir, id);
      const prev = await lstatOrNull(final);
      await rename(tmpPath, final);
      await fsyncDir(dir);
      this.accountStored(id, size, prev);
      this.markVerified(id, st);
      return { id, size, created: prev === null };
    });
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined) {
      // New directory entries need their parents flushed too, or the chunk's path can
      // vanish; the top level exists from init on (see init), so usually just one.
      await fsyncDir(path.dirname(dir));
      if (created !== dir) await fsyncDir(this.chunksDir);
    }
    this.knownDirs.add(dir);
  }

  async open(id: string): Promise<ChunkHandle | null> {
    if (this.corrupt.has(id)) return null;
    let fh: FileHandle;
    try {
      fh = await open(this.chunkPath(id), "r");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw err;
    }
    try {
      const st = await fh.stat();
      return new DiskChunkHandle(this, id, fh, st);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  async stat(id: string): Promise<ChunkInfo | null> {
    if (this.corrupt.has(id)) return null;
    const st = await lstatOrNull(this.chunkPath(id));
    return st === null ? null : { id, size: st.size, mtimeMs: st.mtimeMs };
  }

  async delete(id: string): Promise<boolean> {
    return (await this.deleteIf(id, {})) === "deleted";
  }

  async deleteIf(id: string, opts: DeleteOptions): Promise<DeleteOutcome> {
    return this.mutex.run(id, async () => {
      const file = this.chunkPath(id);
      const st = await lstatOrNull(file);
      if (st === null) return "absent";
      if (opts.ifUnmodifiedSince !== undefined && st.mtimeMs > opts.ifUnmodifiedSince) return "modified";
      await rm(file);
      await fsyncDir(this.chunkDir(id));
      this.usedBytes -= st.size;
      this.chunkCount -= 1;
      this.verified.delete(id);
      this.corrupt.delete(id);
      return "deleted";
    });
  }

  async list(after: string | null, limit: number): Promise<ChunkInfo[]> {
    const out: ChunkInfo[] = [];
    if (limit <= 0) return out;
    await this.walk(after, (id, st) => {
      if (this.corrupt.has(id)) return true;
      out.push({ id, size: st.size, mtimeMs: st.mtimeMs });
      return out.length < limit;
    });
    return out;
  }

  async close(): Promise<void> {
    this.verified.clear();
    // A batch cut short by shutdown: its temp files are dropped (as a restart would) and
    // their handles closed rather than left to the garbage collector.
    await this.discardStaged([...this.staged]);
  }

  /** Walks chunk files in id order after `after`; `visit` returns false to stop. */
  private async walk(
    after: string | null,
    visit: (id: string, st: Stats) => boolean,
    onStray?: (file: string) => void,
  ): Promise<void> {
    const a0 = after?.slice(0, 2) ?? "";
    const b0 = after?.slice(0, 4) ?? "";
    for (const a of await sortedDir(this.chunksDir, FANOUT_RE)) {
      if (a < a0) continue;
      const dirA = path.join(this.chunksDir, a);
      for (const b of await sortedDir(dirA, FANOUT_RE)) {
        if (a + b < b0) continue;
        const dirB = path.join(dirA, b);
        const names = (await readdir(dirB)).sort();
        for (const name of names) {
          if (!ID_RE.test(name) || !name.startsWith(a + b)) {
            onStray?.(path.join(dirB, name));
            continue;
          }
          if (after !== null && name <= after) continue;
          const st = await lstatOrNull(path.join(dirB, name));
          if (st === null || !st.isFile()) continue;
          if (!visit(name, st)) return;
        }
      }
    }
  }

  // --- staged puts (bulk replication) -------------------------------------------------

  async stage(id: string, body: AsyncIterable<Uint8Array>, declaredSize: number): Promise<StagedChunk> {
    const reserve = await this.reserve(id, declaredSize);
    const tmpPath = this.tmpPathFor(id);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmpPath, "wx", 0o644);
      await writeVerified(fh, id, body, declaredSize);
      // Kept open: commitStaged waits for this flush and closes the handle.
      const flushed = fh.datasync();
      flushed.catch(() => {});
      const staged: DiskStagedChunk = { id, size: declaredSize, tmpPath, fh, fd: null, reserve, flushed };
      this.staged.add(staged);
      return staged;
    } catch (err) {
      this.reservedBytes -= reserve;
      throw await this.abandonWrite(id, tmpPath, fh, err);
    }
  }

  async stageBytes(id: string, data: Uint8Array): Promise<StagedChunk> {
    const size = data.byteLength;
    if (size > SYNC_STAGE_MAX_BYTES) return this.stage(id, once(data), size);
    checkDeclaredSize(id, size);
    // Verified before a byte is written: a bad chunk costs no file at all.
    const actual = createHash("sha256").update(data).digest("hex");
    if (actual !== id)
      throw new AppError("HASH_MISMATCH", `chunk ${id}: body hashes to ${actual}, not to the chunk id`, { actual });
    // Asynchronous on purpose: on a large store the chunk's directory may not be cached, and
    // that lookup may read the disk. It also warms the lookup the commit's rename needs.
    const reserve = await this.reserve(id, size);
    const tmpPath = this.tmpPathFor(id);
    let fd: number | null = null;
    try {
      // O_EXCL: a temp name is never shared, so an existing file means something is wrong.
      fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      for (let off = 0; off < size;) off += writeSync(fd, data, off, size - off);
    } catch (err) {
      this.reservedBytes -= reserve;
      if (fd !== null) closeQuietly(fd);
      throw await this.abandonWrite(id, tmpPath, undefined, err);
    }
    const staged: DiskStagedChunk = { id, size, tmpPath, fh: null, fd, reserve, flushed: null };
    this.staged.add(staged);
    return staged;
  }

  async commitStaged(staged: readonly StagedChunk[]): Promise<(PutResult | Error)[]> {
    const list = staged as readonly DiskStagedChunk[];
    for (const s of list) this.staged.delete(s);
    // Every file's data first (flushes started when each was staged; the journal groups
    // concurrent ones into few commits).
    const synced = await Promise.allSettled(
      list.map(async (s): Promise<Stats | null> => {
        if (s.fd !== null) return datasyncAndClose(s.fd);
        try {
          await s.flushed;
        } finally {
          await s.fh!.close();
        }
        return null;
      }),
    );
    // Then the renames, and one flush per directory that received a new entry.
    const renamed: { s: DiskStagedChunk; i: number; prev: Stats | null; final: string }[] = [];
    const results: (PutResult | Error)[] = new Array<PutResult | Error>(list.length);
    await Promise.all(
      list.map(async (s, i) => {
        try {
          if (synced[i]!.status === "rejected") throw (synced[i] as PromiseRejectedResult).reason;
          const dir = this.chunkDir(s.id);
          if (s.fd !== null && this.knownDirs.has(dir) && this.mutex.idle(s.id)) {
            // Nothing else works on this id right now, and nothing can start before these
            // two calls return: the mutex's exclusion without its promises.
            const final = path.join(dir, s.id);
            const prev = lstatSync(final, { throwIfNoEntry: false }) ?? null;
            renameSync(s.tmpPath, final);
            renamed.push({ s, i, prev, final });
            return;
          }
          await this.mutex.run(s.id, async () => {
            const dir = this.chunkDir(s.id);
            await this.ensureDir(dir);
            const final = path.join(dir, s.id);
            const prev = await lstatOrNull(final);
            await rename(s.tmpPath, final);
            renamed.push({ s, i, prev, final });
          });
        } catch (err) {
          results[i] = toError(err);
          this.reservedBytes -= s.reserve;
          await rm(s.tmpPath, { force: true }).catch(() => {});
        }
      }),
    );
    // Each directory flushed once, all at the same time: its error, or null when durable.
    const dirSynced = new Map<string, Error | null>();
    await Promise.all(
      [...new Set(renamed.map((r) => path.dirname(r.final)))].map(async (dir) => {
        // Just renamed into, so its lookup is in the dentry cache (see fsyncDirHot).
        dirSynced.set(dir, await fsyncDirHot(dir).then(() => null, toError));
      }),
    );
    for (const r of renamed) {
      this.reservedBytes -= r.s.reserve;
      this.accountStored(r.s.id, r.s.size, r.prev);
      const err = dirSynced.get(path.dirname(r.final));
      if (err) {
        // Visible but maybe not durable: not reported stored; a later copy rewrites it.
        results[r.i] = err;
        continue;
      }
      // A staged fd's stat from before the rename: same inode, size and mtime after it.
      const fdStat =
        synced[r.i]!.status === "fulfilled" ? (synced[r.i] as PromiseFulfilledResult<Stats | null>).value : null;
      const st = fdStat ?? (await lstatOrNull(r.final));
      if (st) this.markVerified(r.s.id, st);
      results[r.i] = { id: r.s.id, size: r.s.size, created: r.prev === null };
    }
    return results;
  }

  async discardStaged(staged: readonly StagedChunk[]): Promise<void> {
    for (const s of staged as readonly DiskStagedChunk[]) {
      if (!this.staged.delete(s)) continue;
      this.reservedBytes -= s.reserve;
      if (s.fd !== null) closeQuietly(s.fd);
      await s.flushed?.catch(() => {});
      await dropTemp(s.tmpPath, s.fh ?? undefined);
    }
  }

  // --- used by DiskChunkHandle -------------------------------------------------------

  isVerified(id: string, st: Stats): boolean {
    const v = this.verified.get(id);
    return v !== undefined && v.mtimeMs === st.mtimeMs && v.size === st.size && v.ino === st.ino;
  }

  markVerified(id: string, st: Stats): void {
    this.verified.delete(id);
    this.verified.set(id, { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino });
    if (this.verified.size > VERIFIED_CACHE_MAX) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
  }

  /**
   * Hides the chunk immediately, then moves the file to corrupt/ for inspection. The
   * inode check keeps a concurrent healing PUT's fresh copy from being thrown away.
   */
  async quarantine(id: string, st: Stats, reason: string): Promise<void> {
    this.corrupt.add(id);
    this.verified.delete(id);
    this.hooks.onCorrupt?.(id, reason);
    await this.mutex.run(id, async () => {
      const file = this.chunkPath(id);
      try {
        const cur = await lstatOrNull(file);
        if (cur === null || cur.ino !== st.ino) {
          this.corrupt.delete(id);
          return;
        }
        await rename(file, path.join(this.corruptDir, `${id}.${Date.now()}`));
        this.usedBytes -= cur.size;
        this.chunkCount -= 1;
        this.corrupt.delete(id);
        await fsyncDir(this.chunkDir(id));
      } catch {
        // Stays in `corrupt` if the move failed: hidden until a PUT rewrites it. Never
        // rejects, since callers fire and forget from inside a stream.
      }
    });
  }

  notFoundCorrupt(id: string, reason: string): AppError {
    return new AppError(
      "NOT_FOUND",
      `chunk ${id} failed verification on storage node ${this.nodeName} (${reason}) and was quarantined`,
    );
  }
}

class DiskChunkHandle implements ChunkHandle {
  readonly id: string;
  readonly size: number;
  private readonly store: DiskChunkStore;
  private readonly fh: FileHandle;
  private readonly st: Stats;
  private taken = false;

  constructor(store: DiskChunkStore, id: string, fh: FileHandle, st: Stats) {
    this.store = store;
    this.id = id;
    this.fh = fh;
    this.st = st;
    this.size = st.size;
  }

  private take(): void {
    if (this.taken) throw new Error(`chunk handle ${this.id} already consumed`);
    this.taken = true;
  }

  readAll(): Readable {
    this.take();
    const src = this.fh.createReadStream({ highWaterMark: READ_HIGH_WATER, autoClose: true });
    const verify = verifyingStream(this.id, this.size, (reason) => {
      void this.store.quarantine(this.id, this.st, reason);
    });
    verify.on("end", () => this.store.markVerified(this.id, this.st));
    // Errors on either side destroy both: a client hang-up closes the file descriptor.
    pipeline(src, verify, () => {});
    return verify;
  }

  async readRange(start: number, end: number): Promise<Readable> {
    this.take();
    try {
      if (!this.store.isVerified(this.id, this.st)) {
        const actual = await hashFile(this.fh, this.size);
        if (actual !== this.id) {
          const reason = `content hashes to ${actual}`;
          await this.store.quarantine(this.id, this.st, reason);
          throw this.store.notFoundCorrupt(this.id, reason);
        }
        this.store.markVerified(this.id, this.st);
      }
    } catch (err) {
      await this.fh.close().catch(() => {});
      throw err;
    }
    return this.fh.createReadStream({ start, end, highWaterMark: READ_HIGH_WATER, autoClose: true });
  }

  /** The whole chunk in one buffer (`into` when it is big enough) and how many bytes the file had. */
  private async readWhole(into?: Buffer): Promise<{ buf: Buffer; got: number }> {
    const size = this.size;
    const buf = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await this.fh.read(buf, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { buf, got };
  }

  async readVerified(into?: Buffer): Promise<Buffer> {
    this.take();
    try {
      const size = this.size;
      const { buf, got } = await this.readWhole(into);
      const actual = got === size ? createHash("sha256").update(buf).digest("hex") : null;
      if (actual !== this.id) {
        const reason = actual === null ? `read ${got} of ${size} bytes` : `content hashes to ${actual}`;
        await this.store.quarantine(this.id, this.st, reason);
        throw this.store.notFoundCorrupt(this.id, reason);
      }
      this.store.markVerified(this.id, this.st);
      return buf;
    } finally {
      await this.fh.close().catch(() => {});
    }
  }

  async readUnverified(into?: Buffer): Promise<Buffer> {
    this.take();
    try {
      const size = this.size;
      const { buf, got } = await this.readWhole(into);
      if (got !== size) throw new AppError("NOT_FOUND", `chunk ${this.id}: read ${got} of ${size} bytes`);
      return buf;
    } finally {
      await this.fh.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (this.taken) return;
    this.taken = true;
    await this.fh.close();
  }
}

async function hashFile(fh: FileHandle, size: number): Promise<string> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1024 * 1024));
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return hash.digest("hex");
}

/**
 * Writes `body` to `fh` while checking it against the chunk id (see consumeVerified),
 * coalescing small socket reads into writes of about WRITE_BATCH_BYTES.
 */
async function writeVerified(
  fh: FileHandle,
  id: string,
  body: AsyncIterable<Uint8Array>,
  declaredSize: number,
): Promise<void> {
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batchBytes === 0) return;
    const bufs = batch;
    batch = [];
    batchBytes = 0;
    await writeAll(fh, bufs);
  };
  await consumeVerified(id, body, declaredSize, async (buf) => {
    batch.push(buf);
    batchBytes += buf.byteLength;
    if (batchBytes >= WRITE_BATCH_BYTES) await flush();
  });
  await flush();
}

/** Closes (if still open) and removes a temp file that will not be committed; never rejects. */
async function dropTemp(tmpPath: string, fh: FileHandle | undefined): Promise<void> {
  await fh?.close().catch(() => {});
  await rm(tmpPath, { force: true }).catch(() => {});
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Only ever used on a write that is being abandoned.
  }
}

/**
 * fdatasync, then the fd's stat, then close. fdatasync is enough for a freshly written
 * file: it flushes the data and every piece of metadata needed to read it back (the size
 * and the block allocation; on ext4 that is a journal commit holding the whole inode),
 * skipping only timestamp-only updates, and there are none after the last write.
 */
function datasyncAndClose(fd: number): Promise<Stats> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => {
      let st: Stats | null = null;
      let failed: unknown = err;
      try {
        if (!err) st = fstatSync(fd);
      } catch (e) {
        failed = e;
      }
      try {
        closeSync(fd);
      } catch (e) {
        failed ??= e;
      }
      if (failed || st === null) reject(failed instanceof Error ? failed : new Error(String(failed)));
      else resolve(st);
    });
  });
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

async function writeAll(fh: FileHandle, bufs: Uint8Array[]): Promise<void> {
  let pending = bufs;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending);
    pending = dropBytes(pending, bytesWritten);
  }
}

function dropBytes(bufs: Uint8Array[], n: number): Uint8Array[] {
  let left = n;
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (left >= b.byteLength) {
      left -= b.byteLength;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}

async function lstatOrNull(file: string): Promise<Stats | null> {
  try {
    return await lstat(file);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw err;
  }
}

async function sortedDir(dir: string, re: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => re.test(n)).sort();
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  }
}
