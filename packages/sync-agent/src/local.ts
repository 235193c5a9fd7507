import type { Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import { lstat, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { compileIgnore, type IgnoreMatcher } from "@cumulus/sync-engine/ignore";
import type { LocalNode } from "@cumulus/sync-engine/model";
import { chunkAndHashFile } from "./hash.ts";
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
   * unless it is at least `settleMs` (default 150 ms) old or a scan `settleMs` earlier saw
   * the same size and mtime: a file that stopped changing is not kept waiting.
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

/** What one scan (full or incremental) works with and counts. */
interface ScanPass {
  opts: ScanOptions;
  stableMs: number;
  settleMs: number;
  now: () => number;
  skip: Set<string>;
  tree: IndexedTree<LocalNode>;
  ignore: IgnoreMatcher;
  hashed: number;
  /** File ids seen (full scans: the hash cache keeps only these). */
  seen: Set<string>;
}

/**
 * Builds the local tree: ids from inodes (dev:ino, so a rename keeps its identity), content
 * hashes from the cache when size, mtime and inode are unchanged and otherwise by hashing
 * the file. A file modified in the last `stableMs` (or changing while being hashed) is
 * marked unstable and not hashed; the planner leaves it alone until a later scan. Ignored
 * folders are listed but not walked; symbolic links and special files are not synced.
 *
 * `scan()` walks the whole folder; `update(paths)` brings the tree of the last scan up to
 * date with only the paths a watcher reported (and the files still being written), so a
 * round on a large folder costs what changed, not the size of the folder.
 */
export interface ScannedManifest {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  chunks: { id: string; size: number }[];
}

/** Files smaller than this are cheap to chunk again; their chunk lists are not kept. */
const KEEP_MANIFEST_FROM = 4 * 1024 * 1024;
/** At most this many chunk lists are kept (oldest dropped): ~1,000 chunks per GiB. */
const MAX_MANIFESTS = 64;

export class LocalScanner {
  readonly root: string;
  readonly hashes: Map<string, HashEntry>;
  /** Size and mtime of young files when first seen, to tell when they stopped changing. */
  private observed = new Map<string, { size: number; mtimeMs: number; at: number }>();
  /** Cache entries changed since the last `takeHashChanges()`. */
  private changed = new Map<string, HashEntry | null>();
  /** The tree of the last scan, kept current by `update` (and by the executor, which patches it). */
  private last: { tree: IndexedTree<LocalNode>; ignore: IgnoreMatcher } | null = null;
  /** Root-relative paths of the files last seen still being written: looked at again each update. */
  private unstable = new Set<string>();
  private problems = new Map<string, { path: string; code: string; message: string }>();
  private partials = new Set<string>();
  /**
   * Chunk lists of the big files this scanner hashed, by local id, with the stat they were
   * made from: the upload of such a file takes it instead of chunking the file a second
   * time (1 GiB: ~1.7 CPU-s less on agent A). Chunk lists, not just the content hash the
   * planner compares, because the upload must name the exact chunks whose hash the planner
   * saw; uploadFile re-checks the stat and hashes every chunk it sends against this list,
   * so a stale entry costs a normal read, never a wrong version. Memory only, bounded.
   */
  readonly manifests = new Map<string, ScannedManifest>();

  constructor(root: string, hashes: Map<string, HashEntry>) {
    this.root = path.resolve(root);
    this.hashes = hashes;
  }

  /** The caller removed the partial downloads last reported. */
  clearPartials(): void {
    this.partials.clear();
  }

  remember(id: string, entry: HashEntry): void {
    this.hashes.set(id, entry);
    this.changed.set(id, entry);
  }

  /**
   * The file holds other bytes than its cached hash and chunk list say, though its stat
   * did not change (an upload's node refused a chunk: a write within one mtime tick).
   * Both are forgotten and the file is looked at again by the next `update`, which hashes it.
   */
  forgetContent(id: string, relPath: string): void {
    if (this.hashes.delete(id)) this.changed.set(id, null);
    this.manifests.delete(id);
    this.unstable.add(relPath);
  }

  takeHashChanges(): Map<string, HashEntry | null> {
    const c = this.changed;
    this.changed = new Map();
    return c;
  }

  private pass(opts: ScanOptions, tree: IndexedTree<LocalNode>, ignore: IgnoreMatcher): ScanPass {
    const stableMs = opts.stableMs ?? 500;
    return {
      opts,
      stableMs,
      settleMs: Math.min(opts.settleMs ?? 150, stableMs),
      now: opts.now ?? Date.now,
      skip: new Set((opts.skip ?? []).map((p) => path.resolve(p))),
      tree,
      ignore,
      hashed: 0,
      seen: new Set(),
    };
  }

  private result(ps: ScanPass): ScanResult {
    for (const [id, o] of this.observed) if (ps.now() - o.mtimeMs >= ps.stableMs) this.observed.delete(id);
    this.last = { tree: ps.tree, ignore: ps.ignore };
    return {
      tree: ps.tree,
      ignore: ps.ignore,
      unstable: this.unstable.size,
      hashed: ps.hashed,
      partials: [...this.partials],
      problems: [...this.problems.values()],
    };
  }

  async scan(opts: ScanOptions = {}): Promise<ScanResult> {
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
    const ps = this.pass(opts, new IndexedTree<LocalNode>(), ignore);
    ps.tree.set(rootId, { id: rootId, parentId: null, name: "", type: "folder" });
    this.unstable.clear();
    this.problems.clear();
    this.partials.clear();
    await this.walk(ps, this.root, rootId, "");
    // Forget hashes of files that are gone, so the cache does not grow forever.
    for (const id of this.hashes.keys())
      if (!ps.seen.has(id)) {
        this.hashes.delete(id);
        this.changed.set(id, null);
      }
    return this.result(ps);
  }

  /**
   * Brings the last scan's tree up to date with the absolute `paths` that changed (as a
   * watcher reports them: files, folders, or things now gone) and with the files last seen
   * being written. Each changed path's folder is listed (names only) so that items that
   * appeared or vanished without an event of their own are seen too; new folders are
   * walked. Returns null when only a full scan will do (no earlier scan, the ignore file
   * changed, the root changed).
   */
  async update(paths: Iterable<string>, opts: ScanOptions = {}): Promise<ScanResult | null> {
    const last = this.last;
    if (!last) return null;
    const ps = this.pass(opts, last.tree, last.ignore);
    const root = ps.tree.root();
    if (!root) return null;
    /** Folder (root-relative, "" = root) → names in it to look at again. */
    const dirs = new Map<string, Set<string>>();
    const touch = (rel: string) => {
      const i = rel.lastIndexOf("/");
      const dir = rel.slice(0, Math.max(0, i));
      let names = dirs.get(dir);
      if (!names) dirs.set(dir, (names = new Set()));
      names.add(rel.slice(i + 1));
    };
    for (const abs of paths) {
      const r = path.relative(this.root, path.resolve(abs));
      if (r.startsWith("..") || path.isAbsolute(r)) continue;
      if (r === "") {
        if (!dirs.has("")) dirs.set("", new Set());
        continue;
      }
      const rel = "/" + r.split(path.sep).join("/");
      if (rel === `/${IGNORE_FILE}`) return null;
      touch(rel);
    }
    for (const rel of this.unstable) touch(rel);
    for (const [p] of this.problems) if (p !== "/") touch(p);
    const rootStat = await lstat(this.root);
    if (localIdOf(rootStat) !== root.id) return null;

    // Shallow folders first: a folder that appears walks its subtree once.
    for (const dir of [...dirs.keys()].sort((a, b) => a.split("/").length - b.split("/").length)) {
      opts.signal?.throwIfAborted();
      const names = dirs.get(dir)!;
      // The nearest folder of the last tree on the way to `dir`: what is below it is new.
      const parts = dir.split("/").filter(Boolean);
      let node = root;
      let k = 0;
      for (; k < parts.length; k++) {
        const c = ps.tree.child(node.id, parts[k]!);
        if (!c || c.type !== "folder" || c.name !== parts[k]) break;
        node = c;
      }
      const at = "/" + parts.slice(0, k).join("/");
      const rel = at === "/" ? "" : at;
      if (rel !== "" && ps.ignore.ignores(rel, true)) continue; // not walked by a full scan either
      if (k < parts.length) {
        // `dir` itself is not in the tree: look at its topmost missing folder, which walks it.
        await this.relist(ps, node, rel, new Set([parts[k]!]));
      } else await this.relist(ps, node, rel, names);
    }
    return this.result(ps);
  }

  /** Lists folder `dir` (at `rel`) again: new and vanished names, and `names` (or all) looked at anew. */
  private async relist(ps: ScanPass, dir: LocalNode, rel: string, names: ReadonlySet<string> | "all"): Promise<void> {
    const abs = rel === "" ? this.root : path.join(this.root, ...rel.split("/").filter(Boolean));
    let listed: string[];
    try {
      listed = await readdir(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EIO";
      if (code === "ENOENT" || code === "ENOTDIR") {
        // Gone since its event: its own parent's event (or the next full scan) removes it.
        return;
      }
      this.problems.set(rel || "/", { path: rel || "/", code, message: String((err as Error).message) });
      return;
    }
    this.problems.delete(rel || "/");
    const present = new Set(listed);
    const kids = new Map<string, LocalNode>();
    for (const c of ps.tree.children(dir.id)) kids.set(c.name, c);
    for (const [name, c] of kids)
      if (!present.has(name)) {
        ps.tree.removeSubtree(c.id);
        this.forget(`${rel}/${name}`);
      }
    for (const name of listed) {
      const known = kids.get(name);
      if (known && names !== "all" && !names.has(name)) continue;
      await this.visit(ps, abs, dir.id, rel, name, true);
    }
    if (names !== "all") for (const name of names) if (!present.has(name)) this.forget(`${rel}/${name}`);
  }

  /** Drops what was noted about a path that is gone (and everything below it). */
  private forget(rel: string): void {
    for (const set of [this.unstable, this.problems] as const)
      for (const k of set.keys()) if (k === rel || k.startsWith(rel + "/")) set.delete(k);
    const abs = path.join(this.root, ...rel.split("/").filter(Boolean));
    for (const p of this.partials) if (p === abs || p.startsWith(abs + path.sep)) this.partials.delete(p);
  }

  private async walk(ps: ScanPass, dir: string, dirId: string, rel: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EIO";
      if (code !== "ENOENT")
        this.problems.set(rel || "/", { path: rel || "/", code, message: String((err as Error).message) });
      return;
    }
    for (const name of names) await this.visit(ps, dir, dirId, rel, name, false);
  }

  /**
   * Looks at one name in folder `dir`: sets its node (file: with its hash, or unstable),
   * walks a folder that is new to the tree. `replace`: the tree may hold an older item at
   * this name (an incremental update), which goes.
   */
  private async visit(
    ps: ScanPass,
    dir: string,
    dirId: string,
    rel: string,
    name: string,
    replace: boolean,
  ): Promise<void> {
    const { opts, tree, ignore, now, settleMs } = ps;
    opts.signal?.throwIfAborted();
    const abs = path.join(dir, name);
    if (ps.skip.has(abs)) return;
    const relPath = `${rel}/${name}`;
    let st: Stats;
    const old = replace ? tree.child(dirId, name) : undefined;
    const prev = old && old.name === name ? old : undefined;
    try {
      st = await lstat(abs);
    } catch {
      // gone since readdir (or since its event)
      if (prev) tree.removeSubtree(prev.id);
      this.forget(relPath);
      return;
    }
    if (isDownloadTemp(name)) {
      if (opts.removePartials) await rm(abs, { force: true }).catch(() => undefined);
      else this.partials.add(abs);
      return;
    }
    const id = localIdOf(st);
    if (prev && prev.id !== id) tree.removeSubtree(prev.id);
    this.unstable.delete(relPath);
    this.problems.delete(relPath);
    const had = tree.get(id);
    if (st.isDirectory()) {
      if (had && had.type !== "folder") tree.delete(id); // a file's inode, reused
      const node: LocalNode = { id, parentId: dirId, name, type: "folder" };
      tree.set(id, node);
      if (ignore.matches(relPath, true)) {
        // Listed, not walked (as a full scan does).
        for (const c of tree.children(id)) tree.removeSubtree(c.id);
        return;
      }
      if (!had || had.type !== "folder" || !replace) await this.walk(ps, abs, id, relPath);
      else {
        // A folder already in the tree (same inode) keeps its subtree: renamed or moved, its
        // items come along. Its listing is checked all the same (new and vanished names; and
        // every item when it moved, in case its inode was reused by a new folder).
        const moved = had.parentId !== dirId || had.name !== name;
        await this.relist(ps, node, relPath, moved ? "all" : new Set());
      }
      return;
    }
    if (had && had.type === "folder") tree.removeSubtree(id); // a folder's inode, reused
    if (!st.isFile()) {
      if (prev && prev.id === id) tree.delete(id);
      return;
    }
    ps.seen.add(id);
    const base = { id, parentId: dirId, name, type: "file" as const, size: st.size, mtimeMs: st.mtimeMs };
    const cached = this.hashes.get(id);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) {
      tree.set(id, { ...base, contentHash: cached.hash });
      return;
    }
    if (ignore.matches(relPath, false)) {
      tree.set(id, base);
      return;
    }
    // Young, but not written for `settleMs` (by its mtime, or as seen by an earlier scan at
    // least that long ago: the same evidence): the writer is done. (settleMs <= stableMs, so
    // a file younger than settleMs is also younger than stableMs.)
    // settleMs 0 asks for no wait at all: check it first, because a file written within the
    // current millisecond has an mtime (sub-millisecond, fine-grained on recent kernels)
    // *after* Date.now(), which truncates, and would count as young.
    if (settleMs > 0 && now() - st.mtimeMs < settleMs) {
      const seenBefore = this.observed.get(id);
      if (
        !seenBefore ||
        seenBefore.size !== st.size ||
        seenBefore.mtimeMs !== st.mtimeMs ||
        now() - seenBefore.at < settleMs
      ) {
        if (!seenBefore || seenBefore.size !== st.size || seenBefore.mtimeMs !== st.mtimeMs)
          this.observed.set(id, { size: st.size, mtimeMs: st.mtimeMs, at: now() });
        this.unstable.add(relPath);
        tree.set(id, { ...base, unstable: true });
        return;
      }
    }
    let hashed: Awaited<ReturnType<typeof chunkAndHashFile>>;
    try {
      hashed = await chunkAndHashFile(abs, st.size, opts.signal);
      const after = await lstat(abs);
      if (after.size !== st.size || after.mtimeMs !== st.mtimeMs || localIdOf(after) !== id) {
        this.unstable.add(relPath);
        tree.set(id, { ...base, unstable: true });
        return;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "EIO";
      if (code === "ENOENT") {
        tree.delete(id);
        return;
      }
      if (opts.signal?.aborted) throw err;
      this.problems.set(relPath, { path: relPath, code, message: String((err as Error).message) });
      tree.set(id, { ...base, unstable: true });
      return;
    }
    ps.hashed++;
    const hash = hashed.hash;
    this.remember(id, { size: st.size, mtimeMs: st.mtimeMs, hash });
    if (st.size >= KEEP_MANIFEST_FROM && hashed.size === st.size) {
      this.manifests.delete(id);
      this.manifests.set(id, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, chunks: hashed.chunks });
      for (const old of this.manifests.keys()) {
        if (this.manifests.size <= MAX_MANIFESTS) break;
        this.manifests.delete(old);
      }
    }
    tree.set(id, { ...base, contentHash: hash });
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
