import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  checkCapacity,
  checkDeclaredSize,
  consumeVerified,
  verifyingStream,
  type ChunkHandle,
  type ChunkInfo,
  type ChunkStore,
  type DeleteOptions,
  type DeleteOutcome,
  type PutResult,
  type StoreHooks,
  type StoreUsage,
} from "./chunk-store.ts";
import { AppError } from "@cumulus/protocol/errors";

export interface MemoryChunkStoreOptions extends StoreHooks {
  nodeName?: string;
  capacityBytes?: number;
}

/** Same contract as DiskChunkStore, in memory: for tests of everything above the store. */
export class MemoryChunkStore implements ChunkStore {
  private readonly chunks = new Map<string, Buffer>();
  private readonly written = new Map<string, number>();
  private readonly nodeName: string;
  private readonly capacityBytes: number;
  private readonly hooks: StoreHooks;
  private usedBytes = 0;
  private reservedBytes = 0;

  constructor(opts: MemoryChunkStoreOptions = {}) {
    this.nodeName = opts.nodeName ?? "memory";
    this.capacityBytes = opts.capacityBytes ?? Number.MAX_SAFE_INTEGER;
    this.hooks = opts;
  }

  usage(): StoreUsage {
    return {
      capacityBytes: this.capacityBytes,
      usedBytes: this.usedBytes,
      chunkCount: this.chunks.size,
      availableBytes: Math.max(0, this.capacityBytes - this.usedBytes - this.reservedBytes),
    };
  }

  measureUsage(): Promise<StoreUsage> {
    return Promise.resolve(this.usage());
  }

  async put(id: string, body: AsyncIterable<Uint8Array>, declaredSize: number): Promise<PutResult> {
    checkDeclaredSize(id, declaredSize);
    const reserve = this.chunks.has(id) ? 0 : declaredSize;
    checkCapacity(this.nodeName, declaredSize, reserve, {
      used: this.usedBytes,
      reserved: this.reservedBytes,
      capacity: this.capacityBytes,
    });
    this.reservedBytes += reserve;
    try {
      const parts: Uint8Array[] = [];
      await consumeVerified(id, body, declaredSize, (buf) => {
        parts.push(Buffer.from(buf));
      });
      const prev = this.chunks.get(id);
      this.chunks.set(id, Buffer.concat(parts));
      this.written.set(id, Date.now());
      this.usedBytes += declaredSize - (prev?.length ?? 0);
      return { id, size: declaredSize, created: prev === undefined };
    } finally {
      this.reservedBytes -= reserve;
    }
  }

  async open(id: string): Promise<ChunkHandle | null> {
    const buf = this.chunks.get(id);
    if (buf === undefined) return null;
    const onBad = (reason: string) => {
      if (this.chunks.get(id) === buf) {
        this.chunks.delete(id);
        this.usedBytes -= buf.length;
      }
      this.hooks.onCorrupt?.(id, reason);
    };
    const verify = () => {
      const actual = createHash("sha256").update(buf).digest("hex");
      if (actual !== id) {
        onBad(`content hashes to ${actual}`);
        throw new AppError("NOT_FOUND", `chunk ${id} failed verification on storage node ${this.nodeName}`);
      }
    };
    /** The chunk in `into` when it is big enough, else in a new buffer. */
    const copyOut = (into?: Buffer) => {
      const out = into && into.length >= buf.length ? into.subarray(0, buf.length) : Buffer.allocUnsafe(buf.length);
      buf.copy(out);
      return out;
    };
    return {
      id,
      size: buf.length,
      readAll: () =>
        Readable.from([buf.subarray(0)], { objectMode: false }).pipe(verifyingStream(id, buf.length, onBad)),
      readRange: async (start, end) => {
        verify();
        return Readable.from([buf.subarray(start, end + 1)], { objectMode: false });
      },
      readVerified: async (into) => {
        verify();
        return copyOut(into);
      },
      readUnverified: async (into) => copyOut(into),
      close: async () => {},
    };
  }

  async stat(id: string): Promise<ChunkInfo | null> {
    const buf = this.chunks.get(id);
    return buf === undefined ? null : { id, size: buf.length, mtimeMs: this.written.get(id) ?? 0 };
  }

  async delete(id: string): Promise<boolean> {
    return (await this.deleteIf(id, {})) === "deleted";
  }

  async deleteIf(id: string, opts: DeleteOptions): Promise<DeleteOutcome> {
    const buf = this.chunks.get(id);
    if (buf === undefined) return "absent";
    if (opts.ifUnmodifiedSince !== undefined && (this.written.get(id) ?? 0) > opts.ifUnmodifiedSince) return "modified";
    this.chunks.delete(id);
    this.written.delete(id);
    this.usedBytes -= buf.length;
    return "deleted";
  }

  async list(after: string | null, limit: number): Promise<ChunkInfo[]> {
    return [...this.chunks.keys()]
      .filter((id) => after === null || id > after)
      .sort()
      .slice(0, Math.max(0, limit))
      .map((id) => ({ id, size: this.chunks.get(id)?.length ?? 0, mtimeMs: this.written.get(id) ?? 0 }));
  }

  async close(): Promise<void> {}

  /** Test hook: flips one bit of a stored chunk, as bit rot would. */
  corruptForTest(id: string, offset = 0): void {
    const buf = this.chunks.get(id);
    if (buf === undefined) throw new Error(`no chunk ${id}`);
    const at = Math.min(offset, buf.length - 1);
    buf[at] = (buf[at] ?? 0) ^ 0x01;
  }
}
