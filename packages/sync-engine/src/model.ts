/**
 * The three trees the planner works on. Every tree is a map id → node with exactly one root
 * (the node whose parentId is null): the sync folder itself.
 *
 * - remote: what the server has, built from the change feed. `id` is the entry id (stable
 *   across renames and moves), `version` the current version number of a file.
 * - local: what the disk has, built by the watcher and scans. `id` is the file's identity on
 *   disk (inode / file id) when the platform gives one; a path-based id still works, but then a
 *   local rename looks like delete + create.
 * - synced: the last state both sides agreed on, one record per synced item, keyed by its
 *   REMOTE id and holding its local id too, so it links the two identities.
 *
 * `contentHash` must be the same function on both sides so that it can be compared: the
 * manifest digest of the content (`manifestDigest` in @cumulus/chunking).
 */

export type NodeType = "file" | "folder";

export interface RemoteNode {
  readonly id: string;
  readonly parentId: string | null;
  readonly name: string;
  readonly type: NodeType;
  /** Current version number (files). */
  readonly version?: number | undefined;
  /** Manifest digest of the current version (files), when known. */
  readonly contentHash?: string | undefined;
}

export interface LocalNode {
  readonly id: string;
  readonly parentId: string | null;
  readonly name: string;
  readonly type: NodeType;
  /** Manifest digest (files); undefined while not yet hashed — such a file is not synced yet. */
  readonly contentHash?: string | undefined;
  readonly size?: number | undefined;
  readonly mtimeMs?: number | undefined;
  /** Still being written (recent events, size/mtime still moving): the planner leaves it alone. */
  readonly unstable?: boolean | undefined;
}

export interface SyncedNode {
  /** The remote entry id. */
  readonly id: string;
  /** The local identity of the same item. */
  readonly localId: string;
  /** Remote id of the parent record; null for the root. */
  readonly parentId: string | null;
  readonly name: string;
  readonly type: NodeType;
  readonly contentHash?: string | undefined;
  readonly version?: number | undefined;
}

export type Tree<N> = ReadonlyMap<string, N>;
export type RemoteTree = Tree<RemoteNode>;
export type LocalTree = Tree<LocalNode>;
export type SyncedTree = Tree<SyncedNode>;

interface AnyNode {
  readonly id: string;
  readonly parentId: string | null;
  readonly name: string;
  readonly type: NodeType;
}

/**
 * A synced tree that also indexes records by local id and by parent, so that recording an
 * operation (applyOutcome) stays O(1) on large trees. A plain Map works too, by scanning.
 */
export class SyncedStore extends Map<string, SyncedNode> {
  // `declare`d, not initialised: Map's constructor calls set() for initial entries before
  // field initialisers would run (and a plain field would then reset them to undefined).
  declare private byLocal?: Map<string, Set<string>>;
  declare private kids?: Map<string, Set<string>>;
  declare private touched?: Set<string>;
  declare private wiped?: boolean;

  /**
   * Ids set or deleted since the last call, or null when the store was cleared meanwhile
   * (for planIncremental: null means "plan everything").
   */
  takeChanges(): Set<string> | null {
    const out = this.wiped ? null : (this.touched ?? new Set<string>());
    this.touched = new Set();
    this.wiped = false;
    return out;
  }

  private touch(id: string): void {
    if (!this.wiped) (this.touched ??= new Set()).add(id);
  }

  override set(id: string, node: SyncedNode): this {
    this.touch(id);
    const old = super.get(id);
    if (old) this.unindex(id, old);
    super.set(id, node);
    add((this.byLocal ??= new Map()), node.localId, id);
    if (node.parentId !== null) add((this.kids ??= new Map()), node.parentId, id);
    return this;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (old) {
      this.touch(id);
      this.unindex(id, old);
    }
    return super.delete(id);
  }

  override clear(): void {
    this.wiped = true;
    this.touched = new Set();
    super.clear();
    this.byLocal?.clear();
    this.kids?.clear();
  }

  /** Ids of the records linking this local id (normally at most one). */
  idsByLocal(localId: string): string[] {
    return [...(this.byLocal?.get(localId) ?? [])];
  }

  childIds(id: string): string[] {
    return [...(this.kids?.get(id) ?? [])];
  }

  private unindex(id: string, node: SyncedNode): void {
    this.byLocal?.get(node.localId)?.delete(id);
    if (node.parentId !== null) this.kids?.get(node.parentId)?.delete(id);
  }
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}

/** A synced tree holding only the root record (first sync). */
export function initialSynced(remoteRootId: string, localRootId: string): SyncedStore {
  return new SyncedStore().set(remoteRootId, {
    id: remoteRootId,
    localId: localRootId,
    parentId: null,
    name: "",
    type: "folder",
  });
}

// --- names -------------------------------------------------------------------

export function nfc(name: string): string {
  return name.normalize("NFC");
}

/** Same name as far as renames go: equal after NFC (the server stores NFC). */
export function sameName(a: string, b: string): boolean {
  return a === b || nfc(a) === nfc(b);
}

/**
 * The key two sibling names collide on: NFC, and lower case when the local file system is
 * case-insensitive (macOS, Windows) — "Report.pdf" and "report.pdf" cannot both exist there.
 */
export function nameKey(name: string, caseInsensitive: boolean): string {
  const n = nfc(name);
  return caseInsensitive ? n.toLowerCase() : n;
}

// --- tree helpers ------------------------------------------------------------

export function rootOf<N extends AnyNode>(tree: Tree<N>): N {
  let root: N | undefined;
  for (const n of tree.values()) {
    if (n.parentId === null) {
      if (root) throw new Error(`tree has two roots: ${root.id} and ${n.id}`);
      root = n;
    }
  }
  if (!root) throw new Error("tree has no root");
  return root;
}

/** "/a/b" relative to the root ("/" for the root); undefined if the chain is broken. */
export function pathOf<N extends AnyNode>(tree: Tree<N>, id: string): string | undefined {
  const names: string[] = [];
  let cur = tree.get(id);
  let guard = 0;
  while (cur && cur.parentId !== null) {
    names.push(cur.name);
    cur = tree.get(cur.parentId);
    if (++guard > tree.size) return undefined;
  }
  if (!cur) return undefined;
  return "/" + names.reverse().join("/");
}

/** Problems that make a tree unusable: orphans, cycles, several roots, non-folder parents. */
export function treeProblems<N extends AnyNode>(tree: Tree<N>): string[] {
  const problems: string[] = [];
  let roots = 0;
  for (const [id, n] of tree) {
    if (n.id !== id) problems.push(`key ${id} holds node ${n.id}`);
    if (n.parentId === null) {
      roots++;
      continue;
    }
    const p = tree.get(n.parentId);
    if (!p) problems.push(`${id} (${n.name}) has no parent ${n.parentId}`);
    else if (p.type !== "folder") problems.push(`${id} (${n.name}) is inside file ${p.id}`);
  }
  if (roots !== 1) problems.push(`tree has ${roots} roots`);
  if (problems.length === 0) {
    // Every parent exists and there is one root: whatever the root does not reach is a cycle.
    const kids = childrenIndex(tree);
    const reached = new Set<string>([rootOf(tree).id]);
    const stack = [rootOf(tree).id];
    while (stack.length > 0) {
      for (const c of kids.get(stack.pop()!) ?? []) {
        if (reached.has(c.id)) continue;
        reached.add(c.id);
        stack.push(c.id);
      }
    }
    if (reached.size !== tree.size)
      for (const id of tree.keys()) if (!reached.has(id)) problems.push(`${id} is in a cycle`);
  }
  return problems;
}

export function childrenIndex<N extends AnyNode>(tree: Tree<N>): Map<string, N[]> {
  const out = new Map<string, N[]>();
  for (const n of tree.values()) {
    if (n.parentId === null) continue;
    let list = out.get(n.parentId);
    if (!list) out.set(n.parentId, (list = []));
    list.push(n);
  }
  return out;
}

/** Joins a parent path and a name ("/" + "a" → "/a"). */
export function joinPath(parent: string, name: string): string {
  return parent === "/" ? "/" + name : parent + "/" + name;
}
