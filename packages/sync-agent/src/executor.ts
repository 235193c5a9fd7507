import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { link, lstat, mkdir, open, rename, rmdir, unlink } from "node:fs/promises";
import path from "node:path";
import type { CumulusClient } from "@cumulus/client/client";
import { downloadFile } from "@cumulus/client/node/download-file";
import { openTransport, uploadFile } from "@cumulus/client/node/upload-file";
import type { ProgressListener } from "@cumulus/client/progress";
import type { LocalNode, RemoteNode } from "@cumulus/sync-engine/model";
import type { Operation, Outcome } from "@cumulus/sync-engine/operations";
import { AppError } from "@cumulus/protocol/errors";
import { contentHashOf, hashFile } from "./hash.ts";
import { DOWNLOAD_PREFIX, localIdOf, type LocalScanner } from "./local.ts";
import type { RemoteMirror } from "./remote.ts";
import { type IndexedTree, joinRemote, splitPath } from "./tree.ts";

/** The world changed under an operation: stop the plan and plan again (not an error). */
export class PreconditionFailed extends Error {
  /** "local": the local folder is not what the plan saw (the agent rescans it before re-planning). */
  readonly side: "local" | "remote" | undefined;
  constructor(message: string, side?: "local" | "remote") {
    super(message);
    this.name = "PreconditionFailed";
    this.side = side;
  }
}

export interface ExecutorOptions {
  client: CumulusClient;
  localDir: string;
  remote: RemoteMirror;
  scanner: LocalScanner;
  /** Where upload receipts are journaled, so an interrupted upload resumes without re-sending chunks. */
  journalDir: string;
  deviceName: string;
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * Files up to this size are sent without an upload journal: they are one chunk, so there is
 * nothing to resume, and the journal's file writes would be most of their local cost.
 */
export const NO_JOURNAL_BELOW = 256 * 1024;

/**
 * Where a download of `dest` lands before it is linked to its name: downloadFile writes
 * `<tmp>.cumulus-partial`, fsyncs it and renames it to `<tmp>`. A hidden `.cumulus-dl-…`
 * name (ignored by default, and the same for every attempt, so an interrupted download
 * resumes) keeps that partial at one `.cumulus-partial` suffix, and a short hash keeps it
 * within the file system's name limit whatever the length of the real name.
 */
export function downloadTemp(dest: string): string {
  const h = createHash("sha256").update(path.basename(dest)).digest("hex").slice(0, 20);
  return path.join(path.dirname(dest), `${DOWNLOAD_PREFIX}${h}`);
}

export interface RunHooks {
  onProgress?: ProgressListener;
  /** One line about what a finished transfer moved ("3 of 40 chunks sent, 37 already there"). */
  onTransfer?: (detail: string) => void;
}

const isCode = (err: unknown, ...codes: string[]): boolean =>
  codes.includes(String((err as { code?: unknown } | null)?.code));

/**
 * Runs the planner's operations against the real disk and server, one at a time, checking
 * each operation's preconditions (sync-engine/src/operations.ts) right before acting and
 * patching the in-memory trees with what it did, so `applyOutcome` sees the trees as they
 * are after the operation. A failed precondition (or the server's CONFLICT, ALREADY_EXISTS,
 * NOT_FOUND) throws PreconditionFailed: the caller stops the plan and plans again. Local
 * writes never overwrite anything they were not told to: new names are claimed with
 * link(2)/mkdir(2) (which fail on an existing name), replaced files are re-checked right
 * before the rename, and downloads go through a fsynced `*.cumulus-partial` file.
 */
export class Executor {
  readonly o: ExecutorOptions;
  local: IndexedTree<LocalNode>;
  /**
   * Folders whose entries downloads changed since the last `syncDirs()`: their fsync is
   * done once per batch (before the batch's state rows are committed), not once per file.
   */
  private dirtyDirs = new Set<string>();
  /** One keep-alive connection pool to the storage nodes for every transfer of the plan. */
  private io: Promise<Awaited<ReturnType<typeof openTransport>>> | null = null;

  constructor(o: ExecutorOptions, local: IndexedTree<LocalNode>) {
    this.o = o;
    this.local = local;
  }

  private chunkIo(): Promise<Awaited<ReturnType<typeof openTransport>>> {
    this.io ??= openTransport("http", this.o.client.site, 16);
    return this.io;
  }

  /** Makes the renames and links of the downloads so far durable (one fsync per folder). */
  async syncDirs(): Promise<void> {
    const dirs = [...this.dirtyDirs];
    this.dirtyDirs.clear();
    await Promise.all(dirs.map(fsyncDir));
  }

  async close(): Promise<void> {
    const io = this.io;
    this.io = null;
    (await io?.catch(() => null))?.close();
  }

  private abs(rel: string): string {
    return path.join(this.o.localDir, ...this.diskRel(rel).split("/").filter(Boolean));
  }

  /**
   * `rel` spelled with the names its items have on disk. The planner's paths use NFC names
   * (the server's), and a disk that keeps names byte for byte (Linux) may hold the NFD form
   * a Mac wrote; the local tree, indexed by NFC, knows the real name. Segments it does not
   * know (the new name of a create or move) are kept as given.
   */
  private diskRel(rel: string): string {
    const parts = rel.split("/").filter(Boolean);
    let cur = this.local.root();
    for (let i = 0; i < parts.length && cur; i++) {
      const part = parts[i]!;
      let next = this.local.child(cur.id, part);
      // Two siblings that differ only in normalization (until the planner renames one):
      // the index holds one of them, so an exact name must win over it.
      if (next && next.name !== part) next = this.local.children(cur.id).find((c) => c.name === part) ?? next;
      if (next) parts[i] = next.name;
      cur = next;
    }
    return "/" + parts.join("/");
  }

  private remotePath(rel: string): string {
    return joinRemote(this.o.remote.remotePath, rel);
  }

  async run(op: Operation, hooks: RunHooks = {}): Promise<Outcome> {
    try {
      return await this.runInner(op, hooks);
    } catch (err) {
      if (err instanceof PreconditionFailed) throw err;
      if (err instanceof AppError && ["CONFLICT", "ALREADY_EXISTS", "NOT_FOUND"].includes(err.code))
        throw new PreconditionFailed(err.message);
      if (isCode(err, "EEXIST", "ENOENT", "ENOTEMPTY", "ENOTDIR")) throw new PreconditionFailed(String(err));
      throw err;
    }
  }

  /** The local item at `rel` must be `id` (and, for files, hold `hash` unless null). */
  private async checkLocal(rel: string, id: string, hash: string | null | undefined): Promise<Stats> {
    const st = await lstat(this.abs(rel)).catch(() => null);
    if (!st || localIdOf(st) !== id) throw new PreconditionFailed(`local ${rel} is no longer ${id}`, "local");
    if (hash === undefined || hash === null || !st.isFile()) return st;
    const cached = this.o.scanner.hashes.get(id);
    const current =
      cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs
        ? cached.hash
        : await hashFile(this.abs(rel), st.size, this.o.signal);
    if (current !== hash) throw new PreconditionFailed(`local ${rel} changed`, "local");
    return st;
  }

  private async checkRemote(rel: string, id: string, version?: number | null): Promise<void> {
    const st = await this.o.client.statIfExists(this.remotePath(rel), { signal: this.o.signal });
    if (!st || st.entry.id !== id) throw new PreconditionFailed(`remote ${rel} is no longer ${id}`);
    if (version !== undefined && version !== null && st.entry.version !== version)
      throw new PreconditionFailed(`remote ${rel} is at v${st.entry.version}, not v${version}`);
  }

  private remoteParent(rel: string): RemoteNode {
    const p = this.o.remote.tree.resolve(splitPath(rel).parent);
    if (!p || p.type !== "folder") throw new PreconditionFailed(`remote parent of ${rel} is unknown`);
    return p;
  }

  private localParent(rel: string): LocalNode {
    const p = this.local.resolve(splitPath(rel).parent);
    if (!p || p.type !== "folder") throw new PreconditionFailed(`local parent of ${rel} is unknown`, "local");
    return p;
  }

  private async runInner(op: Operation, hooks: RunHooks): Promise<Outcome> {
    const { client, remote, signal } = this.o;
    switch (op.kind) {
      case "mkdirRemote": {
        await this.checkLocal(op.path, op.localId, null);
        const parent = this.remoteParent(op.path);
        const e = await client.mkdir(this.remotePath(op.path), { parents: false, signal });
        remote.put({ id: e.id, parentId: parent.id, name: e.name, type: "folder" });
        return { remoteId: e.id };
      }
      case "mkdirLocal": {
        const parent = this.localParent(op.path);
        const abs = this.abs(op.path);
        await mkdir(abs); // fails with EEXIST on a taken name
        const st = await lstat(abs);
        const id = localIdOf(st);
        this.local.set(id, { id, parentId: parent.id, name: path.basename(abs), type: "folder" });
        return { localId: id };
      }
      case "upload": {
        const before = await this.checkLocal(op.path, op.localId, op.expectedHash);
        const parent = this.remoteParent(op.path);
        const abs = this.abs(op.path);
        // The scanner's chunk list of this very content (its hash is op.expectedHash), so the
        // file is read once more only to send it, not chunked again. uploadFile uses it only
        // while dev/inode/size/mtime are unchanged and checks every chunk it sends against it.
        const scanned = this.o.scanner.manifests.get(op.localId);
        const precomputed =
          scanned &&
          scanned.size === before.size &&
          scanned.mtimeMs === before.mtimeMs &&
          contentHashOf(scanned.chunks) === op.expectedHash
            ? {
                manifest: { size: scanned.size, chunks: scanned.chunks },
                dev: scanned.dev,
                ino: scanned.ino,
                size: scanned.size,
                mtimeMs: scanned.mtimeMs,
              }
            : undefined;
        const res = await uploadFile(client, {
          ...(precomputed ? { precomputed } : {}),
          localPath: abs,
          remotePath: this.remotePath(op.path),
          baseVersion: op.baseVersion,
          ...(before.size >= NO_JOURNAL_BELOW ? { journalDir: this.o.journalDir } : {}),
          chunkIo: await this.chunkIo(),
          deviceName: this.o.deviceName,
          // Unset: uploadFile's own default (8 chunk PUTs in flight), which a big file needs to
          // hide the nodes' per-chunk fsync latency; 4 left 1 GiB at ~31 MB/s (docs/benchmarks.md).
          ...(this.o.concurrency !== undefined ? { concurrency: this.o.concurrency } : {}),
          signal,
          ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        }).catch((err: unknown) => {
          // The bytes are not those the scanner hashed, though the stat says they are: the
          // scanner must hash the file again, or the replan would retry the same upload.
          if (err instanceof AppError && err.code === "CONFLICT" && err.details?.localChanged === true)
            this.o.scanner.forgetContent(op.localId, this.diskRel(op.path));
          throw err;
        });
        hooks.onTransfer?.(
          `${res.chunksUploaded} of ${res.chunksTotal} chunks sent, ${res.chunksSkipped} already on the server`,
        );
        const after = await lstat(abs);
        // uploadFile sends chunks unhashed only while the stat is that of the scan, hashes
        // them once it changes, and a node refuses any chunk that is not its id, so a file
        // that changed under it is refused (CONFLICT); a change after the last read shows
        // here and is uploaded next time.
        const stable = after.size === before.size && after.mtimeMs === before.mtimeMs;
        remote.put({
          id: res.entry.id,
          parentId: parent.id,
          name: res.entry.name,
          type: "file",
          version: res.version,
          contentHash: op.expectedHash,
        });
        if (!stable) throw new PreconditionFailed(`local ${op.path} changed during the upload`, "local");
        return { remoteId: res.entry.id, version: res.version };
      }
      case "download": {
        const r = remote.tree.get(op.remoteId);
        const rPath = remote.pathOf(op.remoteId);
        if (!r || r.type !== "file" || rPath === undefined)
          throw new PreconditionFailed(`remote ${op.remoteId} is gone`);
        if (r.version !== op.version) throw new PreconditionFailed(`remote ${op.path} is at v${r.version}`);
        const parent = this.localParent(op.path);
        const destRel = this.diskRel(op.path);
        const dest = this.abs(destRel);
        const tmp = downloadTemp(dest);
        const got = await downloadFile(client, {
          remotePath: rPath,
          localPath: tmp,
          version: op.version,
          concurrency: this.o.concurrency ?? 4,
          // A download cut short (crash, network) keeps what it wrote for the next attempt.
          resume: true,
          chunkIo: await this.chunkIo(),
          signal,
          ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
        });
        hooks.onTransfer?.(
          `${got.chunksDownloaded} of ${got.chunksTotal} chunks received, ${got.chunksSkipped} already here`,
        );
        try {
          const st = await lstat(tmp);
          const hash = op.contentHash ?? (await hashFile(tmp, st.size, signal));
          if (op.localId === null) {
            // link(2) claims the name only if it is free: never overwrites a file that appeared meanwhile.
            await link(tmp, dest);
            await unlink(tmp);
          } else {
            await this.checkLocal(op.path, op.localId, op.expectedLocalHash);
            await rename(tmp, dest);
            this.local.delete(op.localId);
          }
          // Durable before the state row says so: the caller runs syncDirs() before committing.
          this.dirtyDirs.add(path.dirname(dest));
          const id = localIdOf(st);
          this.o.scanner.remember(id, { size: st.size, mtimeMs: st.mtimeMs, hash });
          this.local.set(id, {
            id,
            parentId: parent.id,
            name: splitPath(destRel).name,
            type: "file",
            contentHash: hash,
            size: st.size,
            mtimeMs: st.mtimeMs,
          });
          return { localId: id, contentHash: hash };
        } finally {
          await unlink(tmp).catch(() => undefined);
        }
      }
      case "moveRemote": {
        await this.checkRemote(op.from, op.remoteId);
        const parent = this.remoteParent(op.to);
        const e = await client.move(this.remotePath(op.from), this.remotePath(op.to), { signal });
        const old = remote.tree.get(op.remoteId);
        remote.put({ ...(old ?? { type: e.type, id: e.id }), id: op.remoteId, parentId: parent.id, name: e.name });
        return {};
      }
      case "moveLocal": {
        await this.checkLocal(op.from, op.localId, null);
        const parent = this.localParent(op.to);
        const from = this.abs(op.from);
        const to = this.abs(op.to);
        const node = this.local.get(op.localId);
        if ((await lstat(to).catch(() => null)) !== null)
          throw new PreconditionFailed(`local ${op.to} exists`, "local");
        if (node?.type === "file") {
          // For files, link + unlink is a rename that cannot replace an existing name.
          await link(from, to);
          await unlink(from);
        } else {
          await rename(from, to);
        }
        if (node) this.local.set(op.localId, { ...node, parentId: parent.id, name: path.basename(to) });
        return {};
      }
      case "deleteRemote": {
        await this.checkRemote(op.path, op.remoteId, op.type === "file" ? op.expectedVersion : null);
        // The server re-checks id and version under its lock: a stat alone leaves a window in
        // which another device's edit could land and then be trashed by this delete.
        await client.delete(this.remotePath(op.path), {
          recursive: op.recursive,
          expectedId: op.remoteId,
          ...(op.type === "file" && op.expectedVersion !== null ? { expectedVersion: op.expectedVersion } : {}),
          ...(op.unchangedSince !== undefined ? { unchangedSince: op.unchangedSince } : {}),
          signal,
        });
        remote.remove(op.remoteId);
        return {};
      }
      case "deleteLocal": {
        await this.checkLocal(op.path, op.localId, op.type === "file" ? op.expectedHash : null);
        if (op.type === "folder") await rmdir(this.abs(op.path));
        else await unlink(this.abs(op.path));
        this.local.removeSubtree(op.localId);
        return {};
      }
      case "link": {
        const r = remote.tree.get(op.remoteId);
        const l = this.local.get(op.localId);
        if (!r || !l || r.type !== l.type) throw new PreconditionFailed("link: an item is gone");
        if (op.expectedHash !== null && (r.contentHash !== op.expectedHash || l.contentHash !== op.expectedHash))
          throw new PreconditionFailed("link: content changed");
        return {};
      }
      case "unlink":
        return {};
    }
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => null);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // some file systems refuse fsync on a directory; the rename is still atomic
  } finally {
    await fh.close();
  }
}

/** What a person can do about a failure, by its code. */
export function describeError(err: unknown): { code: string; message: string; fix: string } {
  const code = String((err as { code?: unknown } | null)?.code ?? "");
  const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
  switch (code) {
    case "EACCES":
    case "EPERM":
    case "FORBIDDEN":
      return {
        code: "PERMISSION_DENIED",
        message,
        fix: "Check that you may write this file or folder (on this computer and on the server); sync retries on its own.",
      };
    case "ENOSPC":
    case "DISK_FULL":
      return { code: "DISK_FULL", message, fix: "Free some disk space; sync retries on its own." };
    case "INVALID_NAME":
    case "INVALID_PATH":
      return { code: "INVALID_NAME", message, fix: "Rename the item: the server does not accept this name." };
    case "UNAUTHENTICATED":
    case "TOKEN_EXPIRED":
      return { code: "AUTH", message, fix: "Sign in again (cumulus login); the device token was revoked or expired." };
    case "UNAVAILABLE":
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "ETIMEDOUT":
      return {
        code: "NETWORK",
        message,
        fix: "Check the network connection; sync resumes when the server is reachable.",
      };
    default:
      return {
        code: code || "INTERNAL",
        message,
        fix: "Sync retries on its own; if this persists, restart the agent.",
      };
  }
}
