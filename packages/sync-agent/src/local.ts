import type { Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import { lstat, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { compileIgnore, type IgnoreMatcher } from "@cumulus/sync-engine/ignore";
import type { LocalNode } from "@cumulus/sync-engine/model";
import { hashFile } from "./hash.ts";
import type { HashEntry } from "./state.ts";
import { IndexedTree } from "./tree.ts";

export const PARTIAL_SUFFIX = ".cumulus-partial";
/** Hidden names downloads land under before they are linked to theirs (executor.ts downloadTemp). */
export const DOWNLOAD_PREFIX = ".cumulus-dl-";

/** A download's temporary file (its partial, or the finished file not yet linked to its name). */
export function isDownloadTemp(name: string): boolean {
  return name.endsWith(PARTIAL_SUFFIX) || name.startsWith(DOWNLOAD_PREFIX);
}
export const IGNORE_FILE = ".cumulusignore";

export function localIdOf(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

export interface ScanOptions {
  /**
   * A file is still being written while its mtime is younger than this (default 500 ms),
   * unless a scan `settleMs` (default 150 ms) earlier saw the same size and mtime.
   */
  stableMs?: number;
  settleMs?: number;
  /** Absolute paths never looked into (the state directory when it lives inside the folder). */
  skip?: readonly string[];
  /** Delete `*.cumulus-partial` files (only when no download of this agent is in flight). */
  removePartials?: boolean;
  /** The file system folds case (see isCaseInsensitive): ignore rules match without case. */
  caseInsensitive?: boolean;
  now?: () => number;
  signal?: AbortSignal;
}

export interface ScanResult {
  tree: IndexedTree<LocalNode>;
  ignore: IgnoreMatcher;
  /** Files seen still being written: scan again after `settleMs`. */
  unstable: number;
  /** Files (re)hashed in this scan. */
  hashed: number;
  /** Absolute paths of `*.cumulus-partial` files seen (and not removed). */
  partials: string[];
  /** Items that could not be read (permission), as path → message. */
  problems: { path: string; code: string; message: string }[];
}

/**
 * Builds the local tree: ids from inodes (dev:ino, so a rename keeps its identity), content
 * hashes from the cache when size, mtime and inode are unchanged and otherwise by hashing
 * the file. A file modified in the last `stableMs` (or changing while being hashed) is
 * marked unstable and not hashed; the planner leaves it alone until a later scan. Ignored
 * folders are listed but not walked; symbolic links and special files are not synced.
 */
export class LocalScanner {
  readonly root: string;
  readonly hashes: Map<string, HashEntry>;
  /** Size and mtime of young files when first seen, to tell when they stopped changing. */
  private observed = new Map<string, { size: number; mtimeMs: number; at: number }>();
  /** Cache entries changed since the last `takeHashChanges()`. */
  private changed = new Map<string, HashEntry | null>();

  constructor(root: string, hashes: Map<string, HashEntry>) {
    this.root = path.resolve(root);
    this.hashes = hashes;
  }

  remember(id: string, entry: HashEntry): void {
    this.hashes.set(id, entry);
    this.changed.set(id, entry);
  }

  takeHashChanges(): Map<string, HashEntry | null> {
    const c = this.changed;
    this.changed = new Map();
    return c;
  }

  async scan(opts: ScanOptions = {}): Promise<ScanResult> {
    const stableMs = opts.stableMs ?? 500;
    const settleMs = Math.min(opts.settleMs ?? 150, stableMs);
    const now = opts.now ?? Date.now;
    const skip = new Set((opts.skip ?? []).map((p) => path.resolve(p)));
    const tree = new IndexedTree<LocalNode>();
    const problems: ScanResult["problems"] = [];
    const partials: string[] = [];
    let ignoreText = "";
    try {
      ignoreText = await readFile(path.join(this.root, IGNORE_FILE), "utf8");
    } catch {
      // no ignore file
    }
    const ignore = compileIgnore(ignoreText, { caseInsensitive: opts.caseInsensitive ?? false });
    const rootStat = await lstat(this.root);
    if (!rootStat.isDirectory()) throw Object.assign(new Error(`${this.root} is not a folder`), { code: "ENOTDIR" });
    const rootId = localIdOf(rootStat);
    tree.set(rootId, { id: rootId, parentId: null, name: "", type: "folder" });
    let unstable = 0;
    let hashed = 0;
    const seen = new Set<string>();

    const walk = async (dir: string, dirId: string, rel: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? "EIO";
        if (code !== "ENOENT") problems.push({ path: rel || "/", code, message: String((err as Error).message) });
        return;
      }
      for (const name of names) {
        opts.signal?.throwIfAborted();
        const abs = path.join(dir, name);
        if (skip.has(abs)) continue;
        const relPath = `${rel}/${name}`;
        let st: Stats;
        try {
          st = await lstat(abs);
        } catch {
          continue; // gone since readdir
        }
        if (isDownloadTemp(name)) {
          if (opts.removePartials) await rm(abs, { force: true }).catch(() => undefined);
          else partials.push(abs);
          continue;
        }
        const id = localIdOf(st);
        if (st.isDirectory()) {
          tree.set(id, { id, parentId: dirId, name, type: "folder" });
          if (!ignore.matches(relPath, true)) await walk(abs, id, relPath);
          continue;
        }
        if (!st.isFile()) continue;
        seen.add(id);
        const base = { id, parentId: dirId, name, type: "file" as const, size: st.size, mtimeMs: st.mtimeMs };
        const cached = this.hashes.get(id);
        if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
          tree.set(id, { ...base, contentHash: cached.hash });
          continue;
        }
        if (ignore.matches(relPath, false)) {
          tree.set(id, base);
          continue;
        }
        if (now() - st.mtimeMs < stableMs) {
          // Young, but unchanged since an earlier scan at least `settleMs` ago: the writer is done.
          const prev = this.observed.get(id);
          if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs || now() - prev.at < settleMs) {
            if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs)
              this.observed.set(id, { size: st.size, mtimeMs: st.mtimeMs, at: now() });
            unstable++;
            tree.set(id, { ...base, unstable: true });
            continue;
          }
        }
        let hash: string;
        try {
          hash = await hashFile(abs, st.size, opts.signal);
          const after = await lstat(abs);
          if (after.size !== st.size || after.mtimeMs !== st.mtimeMs || localIdOf(after) !== id) {
            unstable++;
            tree.set(id, { ...base, unstable: true });
            continue;
          }
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? "EIO";
          if (code === "ENOENT") continue;
          if (opts.signal?.aborted) throw err;
          problems.push({ path: relPath, code, message: String((err as Error).message) });
          tree.set(id, { ...base, unstable: true });
          continue;
        }
        hashed++;
        this.remember(id, { size: st.size, mtimeMs: st.mtimeMs, hash });
        tree.set(id, { ...base, contentHash: hash });
      }
    };
    await walk(this.root, rootId, "");
    for (const [id, o] of this.observed) if (now() - o.mtimeMs >= stableMs) this.observed.delete(id);
    // Forget hashes of files that are gone, so the cache does not grow forever.
    for (const id of this.hashes.keys())
      if (!seen.has(id)) {
        this.hashes.delete(id);
        this.changed.set(id, null);
      }
    return { tree, ignore, unstable, hashed, partials, problems };
  }
}

/**
 * Whether names that differ only by case are the same file in `dir` (macOS, Windows), by
 * creating a probe file (named like the agent's own, which ignore rules skip) and looking
 * it up in lower case.
 */
export async function isCaseInsensitive(dir: string): Promise<boolean> {
  const name = `.cumulus-Case-${randomBytes(6).toString("hex")}`;
  const probe = path.join(dir, name);
  try {
    await writeFile(probe, "", { flag: "wx" });
  } catch {
    // A folder we cannot write to: go by the platform's usual file system.
    return process.platform === "darwin" || process.platform === "win32";
  }
  try {
    return (await lstat(path.join(dir, name.toLowerCase())).catch(() => null)) !== null;
  } finally {
    await rm(probe, { force: true });
  }
}
