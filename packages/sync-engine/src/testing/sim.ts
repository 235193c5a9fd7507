import { nameKey, nfc, type LocalNode, type NodeType, type RemoteNode } from "../model.ts";
import type { Operation, Outcome } from "../operations.ts";

/**
 * In-memory stand-ins for the server and the local disk, strict in the ways the real ones
 * are: the server keeps names NFC and case-sensitive, refuses an upload whose baseVersion is
 * stale, a move or create onto an existing name, and a non-recursive delete of a non-empty
 * folder; the disk can fold case, refuses rmdir of a non-empty folder, and replacing a file by
 * download gives it a new identity (temp file renamed over it). Contents are strings and the
 * content hash is the string itself.
 *
 * The `nodes` maps ARE the trees the planner reads (no copies): pass `server.nodes` and
 * `disk.nodes` to plan() directly.
 */

export class SimError extends Error {}

/** A Map id → node that also indexes children, so lookups by name stay cheap on big trees. */
export class IndexedTree<N extends { parentId: string | null }> extends Map<string, N> {
  declare private kids?: Map<string, Set<string>>;

  override set(id: string, node: N): this {
    const old = super.get(id);
    if (old && old.parentId !== null) this.kids?.get(old.parentId)?.delete(id);
    super.set(id, node);
    if (node.parentId !== null) {
      const k = (this.kids ??= new Map());
      let s = k.get(node.parentId);
      if (!s) k.set(node.parentId, (s = new Set()));
      s.add(id);
    }
    return this;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (old && old.parentId !== null) this.kids?.get(old.parentId)?.delete(id);
    return super.delete(id);
  }

  childIds(id: string): string[] {
    return [...(this.kids?.get(id) ?? [])];
  }
}

interface Mutable<N extends { parentId: string | null }> {
  nodes: IndexedTree<N>;
}

function children<N extends { parentId: string | null }>(t: Mutable<N>, id: string): string[] {
  return t.nodes.childIds(id);
}

function subtree<N extends { parentId: string | null }>(t: Mutable<N>, id: string): string[] {
  const out = [id];
  for (let i = 0; i < out.length; i++) out.push(...children(t, out[i]!));
  return out;
}

function isAncestorOrSelf<N extends { parentId: string | null }>(t: Mutable<N>, a: string, b: string): boolean {
  for (let cur: string | null | undefined = b; cur; cur = t.nodes.get(cur)?.parentId) if (cur === a) return true;
  return false;
}

function splitPath(path: string): string[] {
  return path.split("/").filter((s) => s.length > 0);
}

export class SimServer implements Mutable<RemoteNode> {
  readonly nodes = new IndexedTree<RemoteNode>();
  readonly rootId = "R0";
  private next = 1;

  constructor() {
    this.nodes.set(this.rootId, { id: this.rootId, parentId: null, name: "", type: "folder" });
  }

  childByName(parentId: string, name: string): RemoteNode | undefined {
    const n = nfc(name);
    for (const id of this.nodes.childIds(parentId)) {
      const c = this.nodes.get(id)!;
      if (c.name === n) return c;
    }
    return undefined;
  }

  resolve(path: string): RemoteNode | undefined {
    let cur = this.nodes.get(this.rootId);
    for (const part of splitPath(path)) {
      if (!cur) return undefined;
      cur = this.childByName(cur.id, part);
    }
    return cur;
  }

  private parentFor(path: string): { parent: RemoteNode; name: string } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw new SimError(`server: no name in ${path}`);
    const parent = this.resolve("/" + parts.join("/"));
    if (!parent || parent.type !== "folder") throw new SimError(`server: NOT_FOUND parent of ${path}`);
    if (this.childByName(parent.id, name)) throw new SimError(`server: ALREADY_EXISTS ${path}`);
    return { parent, name: nfc(name) };
  }

  // --- what people do on the server (web UI, other devices) -------------------------------

  create(parentId: string, name: string, type: NodeType, content?: string): RemoteNode {
    const p = this.nodes.get(parentId);
    if (!p || p.type !== "folder") throw new SimError("server: parent is not a folder");
    if (this.childByName(parentId, name)) throw new SimError(`server: ALREADY_EXISTS ${name}`);
    const id = `R${this.next++}`;
    const n: RemoteNode =
      type === "file"
        ? { id, parentId, name: nfc(name), type, version: 1, contentHash: content ?? "" }
        : { id, parentId, name: nfc(name), type };
    this.nodes.set(id, n);
    return n;
  }

  edit(id: string, content: string): void {
    const n = this.nodes.get(id);
    if (!n || n.type !== "file") throw new SimError("server: not a file");
    this.nodes.set(id, { ...n, version: (n.version ?? 0) + 1, contentHash: content });
  }

  move(id: string, parentId: string, name: string): void {
    const n = this.nodes.get(id);
    const p = this.nodes.get(parentId);
    if (!n || n.parentId === null || !p || p.type !== "folder") throw new SimError("server: bad move");
    if (isAncestorOrSelf(this, id, parentId)) throw new SimError("server: move into itself");
    const other = this.childByName(parentId, name);
    if (other && other.id !== id) throw new SimError(`server: ALREADY_EXISTS ${name}`);
    this.nodes.set(id, { ...n, parentId, name: nfc(name) });
  }

  remove(id: string): string[] {
    const n = this.nodes.get(id);
    if (!n || n.parentId === null) throw new SimError("server: bad delete");
    const gone = subtree(this, id);
    for (const k of gone) this.nodes.delete(k);
    return gone;
  }

  // --- the API the executor uses ----------------------------------------------------------

  apiMkdir(path: string): RemoteNode {
    const { parent, name } = this.parentFor(path);
    return this.create(parent.id, name, "folder");
  }

  apiUpload(path: string, content: string, baseVersion: number | null, remoteId: string | null): RemoteNode {
    if (baseVersion === null) {
      const { parent, name } = this.parentFor(path);
      return this.create(parent.id, name, "file", content);
    }
    const n = this.resolve(path);
    if (!n || n.type !== "file" || (remoteId !== null && n.id !== remoteId))
      throw new SimError(`server: NOT_FOUND ${path}`);
    if (n.version !== baseVersion)
      throw new SimError(`server: CONFLICT ${path} is at v${n.version}, not v${baseVersion}`);
    this.edit(n.id, content);
    return this.nodes.get(n.id)!;
  }

  apiMove(from: string, to: string, remoteId: string): void {
    const n = this.resolve(from);
    if (!n || n.id !== remoteId) throw new SimError(`server: NOT_FOUND ${from} (${remoteId})`);
    const { parent, name } = this.parentFor(to);
    this.move(n.id, parent.id, name);
  }

  apiDelete(path: string, remoteId: string, recursive: boolean, expectedVersion: number | null): void {
    const n = this.resolve(path);
    if (!n || n.id !== remoteId || n.parentId === null) throw new SimError(`server: NOT_FOUND ${path}`);
    if (expectedVersion !== null && n.version !== expectedVersion)
      throw new SimError(`server: ${path} changed (v${n.version})`);
    if (!recursive && children(this, n.id).length > 0) throw new SimError(`server: ${path} is not empty`);
    this.remove(n.id);
  }
}

export class SimDisk implements Mutable<LocalNode> {
  readonly nodes = new IndexedTree<LocalNode>();
  readonly rootId = "L0";
  readonly caseInsensitive: boolean;
  private next = 1;

  constructor(opts: { caseInsensitive?: boolean } = {}) {
    this.caseInsensitive = opts.caseInsensitive ?? false;
    this.nodes.set(this.rootId, { id: this.rootId, parentId: null, name: "", type: "folder" });
  }

  /** Case-insensitive disks also ignore normalization (APFS); case-sensitive ones compare bytes (ext4). */
  private key(name: string): string {
    return this.caseInsensitive ? nameKey(name, true) : name;
  }

  childByName(parentId: string, name: string): LocalNode | undefined {
    const k = this.key(name);
    for (const id of this.nodes.childIds(parentId)) {
      const c = this.nodes.get(id)!;
      if (this.key(c.name) === k) return c;
    }
    return undefined;
  }

  resolve(path: string): LocalNode | undefined {
    let cur = this.nodes.get(this.rootId);
    for (const part of splitPath(path)) {
      if (!cur) return undefined;
      cur = this.childByName(cur.id, part);
    }
    return cur;
  }

  private parentFor(path: string, self?: string): { parent: LocalNode; name: string } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw new SimError(`disk: no name in ${path}`);
    const parent = this.resolve("/" + parts.join("/"));
    if (!parent || parent.type !== "folder") throw new SimError(`disk: ENOENT parent of ${path}`);
    const other = this.childByName(parent.id, name);
    if (other && other.id !== self) throw new SimError(`disk: EEXIST ${path}`);
    return { parent, name };
  }

  // --- what people do on this computer ---------------------------------------------------

  create(parentId: string, name: string, type: NodeType, content?: string, unstable = false): LocalNode {
    const p = this.nodes.get(parentId);
    if (!p || p.type !== "folder") throw new SimError("disk: parent is not a folder");
    if (this.childByName(parentId, name)) throw new SimError(`disk: EEXIST ${name}`);
    const id = `L${this.next++}`;
    const n: LocalNode =
      type === "file"
        ? { id, parentId, name, type, contentHash: content ?? "", ...(unstable ? { unstable: true } : {}) }
        : { id, parentId, name, type };
    this.nodes.set(id, n);
    return n;
  }

  /** In-place write (same identity). */
  edit(id: string, content: string, unstable = false): void {
    const n = this.nodes.get(id);
    if (!n || n.type !== "file") throw new SimError("disk: not a file");
    const { unstable: _u, ...rest } = n;
    this.nodes.set(id, { ...rest, contentHash: content, ...(unstable ? { unstable: true } : {}) });
  }

  /** Save through a temp file renamed over the original: new identity, same name. */
  replace(id: string, content: string): LocalNode {
    const n = this.nodes.get(id);
    if (!n || n.type !== "file" || n.parentId === null) throw new SimError("disk: not a file");
    this.nodes.delete(id);
    const fresh: LocalNode = {
      id: `L${this.next++}`,
      parentId: n.parentId,
      name: n.name,
      type: "file",
      contentHash: content,
    };
    this.nodes.set(fresh.id, fresh);
    return fresh;
  }

  stabilize(): void {
    for (const [id, n] of this.nodes) {
      if (n.unstable) {
        const { unstable: _u, ...rest } = n;
        this.nodes.set(id, rest);
      }
    }
  }

  move(id: string, parentId: string, name: string): void {
    const n = this.nodes.get(id);
    const p = this.nodes.get(parentId);
    if (!n || n.parentId === null || !p || p.type !== "folder") throw new SimError("disk: bad move");
    if (isAncestorOrSelf(this, id, parentId)) throw new SimError("disk: move into itself");
    const other = this.childByName(parentId, name);
    if (other && other.id !== id) throw new SimError(`disk: EEXIST ${name}`);
    this.nodes.set(id, { ...n, parentId, name });
  }

  remove(id: string): string[] {
    const n = this.nodes.get(id);
    if (!n || n.parentId === null) throw new SimError("disk: bad delete");
    const gone = subtree(this, id);
    for (const k of gone) this.nodes.delete(k);
    return gone;
  }

  // --- what the executor does -------------------------------------------------------------

  apiMkdir(path: string): LocalNode {
    const { parent, name } = this.parentFor(path);
    return this.create(parent.id, name, "folder");
  }

  apiWriteFile(path: string, content: string, replaceId: string | null, expectedHash: string | null): LocalNode {
    if (replaceId === null) {
      const { parent, name } = this.parentFor(path);
      return this.create(parent.id, name, "file", content);
    }
    const n = this.resolve(path);
    if (!n || n.id !== replaceId || n.type !== "file") throw new SimError(`disk: ${path} is not ${replaceId}`);
    if (n.unstable) throw new SimError(`disk: ${path} is being written`);
    if (n.contentHash !== expectedHash) throw new SimError(`disk: ${path} changed`);
    return this.replace(n.id, content);
  }

  apiMove(from: string, to: string, localId: string): void {
    const n = this.resolve(from);
    if (!n || n.id !== localId) throw new SimError(`disk: ${from} is not ${localId}`);
    const { parent, name } = this.parentFor(to, n.id);
    this.move(n.id, parent.id, name);
  }

  apiDelete(path: string, localId: string, expectedHash: string | null): void {
    const n = this.resolve(path);
    if (!n || n.id !== localId || n.parentId === null) throw new SimError(`disk: ${path} is not ${localId}`);
    if (n.unstable) throw new SimError(`disk: ${path} is being written`);
    if (n.type === "file" && n.contentHash !== expectedHash) throw new SimError(`disk: ${path} changed`);
    if (children(this, n.id).length > 0) throw new SimError(`disk: ENOTEMPTY ${path}`);
    this.nodes.delete(n.id);
  }
}

export type ExecResult = { ok: true; outcome: Outcome } | { ok: false; error: string };

/**
 * Runs one operation against the simulated world, checking the preconditions it carries
 * the way a real executor must.
 */
/**
 * The agent's executor reads an upload's (or a remote mkdir's) local item at the op's path
 * (executor.ts, checkLocal): the op is only valid once the item is at that path locally,
 * its folders included (names compared as the server does: NFC, and case-folded on a disk
 * that folds case).
 */
function atLocalPath(disk: SimDisk, path: string, localId: string): void {
  const names: string[] = [];
  for (let n = disk.nodes.get(localId); n && n.parentId !== null; n = disk.nodes.get(n.parentId)) names.unshift(n.name);
  const key = (p: string[]) => p.map((seg) => nameKey(seg, disk.caseInsensitive)).join("/");
  if (key(names) !== key(splitPath(path)))
    throw new SimError(`disk: ${localId} is at /${names.join("/")}, not ${path}`);
}

export function execute(op: Operation, server: SimServer, disk: SimDisk): ExecResult {
  try {
    switch (op.kind) {
      case "mkdirRemote": {
        const l = disk.nodes.get(op.localId);
        if (!l || l.type !== "folder") throw new SimError(`disk: ${op.localId} is gone`);
        atLocalPath(disk, op.path, op.localId);
        return { ok: true, outcome: { remoteId: server.apiMkdir(op.path).id } };
      }
      case "mkdirLocal": {
        const r = server.nodes.get(op.remoteId);
        if (!r || r.type !== "folder") throw new SimError(`server: ${op.remoteId} is gone`);
        return { ok: true, outcome: { localId: disk.apiMkdir(op.path).id } };
      }
      case "upload": {
        const l = disk.nodes.get(op.localId);
        if (!l || l.type !== "file") throw new SimError(`disk: ${op.localId} is gone`);
        if (l.unstable) throw new SimError(`disk: ${op.localId} is being written`);
        if (l.contentHash !== op.expectedHash) throw new SimError(`disk: ${op.localId} changed`);
        atLocalPath(disk, op.path, op.localId);
        const r = server.apiUpload(op.path, l.contentHash, op.baseVersion, op.remoteId);
        return { ok: true, outcome: { remoteId: r.id, version: r.version! } };
      }
      case "download": {
        const r = server.nodes.get(op.remoteId);
        if (!r || r.type !== "file") throw new SimError(`server: ${op.remoteId} is gone`);
        if (r.version !== op.version)
          throw new SimError(`server: ${op.remoteId} is at v${r.version}, not v${op.version}`);
        const l = disk.apiWriteFile(op.path, r.contentHash ?? "", op.localId, op.expectedLocalHash);
        return { ok: true, outcome: { localId: l.id, contentHash: l.contentHash! } };
      }
      case "moveRemote":
        server.apiMove(op.from, op.to, op.remoteId);
        return { ok: true, outcome: {} };
      case "moveLocal":
        disk.apiMove(op.from, op.to, op.localId);
        return { ok: true, outcome: {} };
      case "deleteRemote":
        server.apiDelete(op.path, op.remoteId, op.recursive, op.expectedVersion);
        return { ok: true, outcome: {} };
      case "deleteLocal":
        disk.apiDelete(op.path, op.localId, op.expectedHash);
        return { ok: true, outcome: {} };
      case "link": {
        const r = server.nodes.get(op.remoteId);
        const l = disk.nodes.get(op.localId);
        if (!r || !l || r.type !== l.type) throw new SimError("link: an item is gone");
        if (op.expectedHash !== null && (r.contentHash !== op.expectedHash || l.contentHash !== op.expectedHash))
          throw new SimError("link: content changed");
        return { ok: true, outcome: {} };
      }
      case "unlink":
        return { ok: true, outcome: {} };
    }
  } catch (e) {
    if (e instanceof SimError) return { ok: false, error: e.message };
    throw e;
  }
}
