import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ReceiptJournal } from "../upload.ts";

const FORMAT = 2;
/** Journals of uploads nobody resumed are pruned after this long. */
const MAX_AGE_MS = 14 * 24 * 3600 * 1000;

interface JournalFile {
  format: number;
  localPath: string;
  remotePath: string;
  updatedAt: string;
  receipts: Record<string, string[]>;
}

/**
 * The receipts of one (local file, remote path) upload, in
 * `<dir>/<sha256 of both paths>.json`. Writes are batched (at most one every
 * `flushIntervalMs`, longer for many receipts) and atomic (temp file + rename), so an
 * interrupted run loses at most the last few receipts, which only costs re-sending those
 * chunks.
 */
export class FileReceiptJournal implements ReceiptJournal {
  readonly file: string;
  private readonly meta: Omit<JournalFile, "receipts" | "updatedAt">;
  private readonly flushIntervalMs: number;
  private receipts = new Map<string, string[]>();
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private done = false;

  constructor(dir: string, localPath: string, remotePath: string, opts: { flushIntervalMs?: number } = {}) {
    // Not keyed by content: a receipt vouches for one chunk on one node whatever file it
    // came in, and the upload journals receipts while it is still chunking the file.
    const abs = path.resolve(localPath);
    const key = createHash("sha256").update(`${abs}\n${remotePath}`).digest("hex");
    this.file = path.join(dir, `${key}.json`);
    this.meta = { format: FORMAT, localPath: abs, remotePath };
    this.flushIntervalMs = opts.flushIntervalMs ?? 500;
  }

  async load(): Promise<Map<string, string[]>> {
    await pruneOld(path.dirname(this.file));
    try {
      const j = JSON.parse(await readFile(this.file, "utf8")) as Partial<JournalFile>;
      if (
        j.format === FORMAT &&
        j.localPath === this.meta.localPath &&
        j.remotePath === this.meta.remotePath &&
        j.receipts
      ) {
        for (const [id, r] of Object.entries(j.receipts)) {
          if (Array.isArray(r) && r.length > 0 && r.every((x) => typeof x === "string")) this.receipts.set(id, r);
        }
      }
    } catch {
      // No journal, or a damaged one: start from nothing, the server has the truth.
    }
    return new Map(this.receipts);
  }

  record(chunk: string, receipts: string[]): void {
    this.receipts.set(chunk, receipts);
    this.markDirty();
  }

  forget(chunks: Iterable<string>): void {
    for (const c of chunks) this.receipts.delete(c);
    this.markDirty();
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const run = this.writing.then(() => this.write());
    this.writing = run.catch(() => undefined);
    await run;
  }

  async complete(): Promise<void> {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
    await rm(this.file, { force: true });
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.timer || this.done) return;
    // Every write rewrites the whole file: space them out as it grows (about 2 s at a
    // thousand receipts), so a big upload does not spend its CPU re-serializing them.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.flush().catch(() => undefined);
      },
      Math.max(this.flushIntervalMs, 2 * this.receipts.size),
    );
    this.timer.unref();
  }

  private async write(): Promise<void> {
    if (!this.dirty || this.done) return;
    this.dirty = false;
    if (this.receipts.size === 0) {
      await rm(this.file, { force: true });
      return;
    }
    const body: JournalFile = {
      ...this.meta,
      updatedAt: new Date().toISOString(),
      receipts: Object.fromEntries(this.receipts),
    };
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}

async function pruneOld(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  await Promise.all(
    names
      .filter((n) => n.endsWith(".json") || n.endsWith(".tmp"))
      .map(async (n) => {
        const p = path.join(dir, n);
        const s = await stat(p).catch(() => null);
        if (s && now - s.mtimeMs > MAX_AGE_MS) await rm(p, { force: true }).catch(() => undefined);
      }),
  );
}
