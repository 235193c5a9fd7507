import { nfc } from "@cumulus/sync-engine/model";

interface TreeNode {
  readonly id: string;
  readonly parentId: string | null;
  readonly name: string;
}

let serials = 0;

/** Same fields, same values (nodes are flat records). */
function sameNode(a: object, b: object): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
  return true;
}

/**
 * A tree map (id → node) that also indexes children by NFC name, so that path lookups and
 * subtree walks stay cheap on large folders. It is a plain Map to the planner.
 */
export class IndexedTree<N extends TreeNode> extends Map<string, N> {
  // `declare`d: Map's constructor calls set() before field initialisers would run.
  declare private kids?: Map<string, Map<string, string>>;
  declare private changes?: number;
  declare private serialNo?: number;
  declare private touched?: Set<string>;
  declare private wiped?: boolean;

  /**
   * Which tree and how far it has changed ("<serial>:<changes>"): equal stamps mean equal
   * contents (setting a node to what it already was is no change).
   */
  get stamp(): string {
    this.serialNo ??= ++serials;
    return `${this.serialNo}:${this.changes ?? 0}`;
  }

  /** `id` undefined: the whole tree changed (cleared). */
  private changed(id?: string): void {
    this.changes = (this.changes ?? 0) + 1;
    if (id === undefined) this.wiped = true;
    else if (!this.wiped) (this.touched ??= new Set()).add(id);
  }

  /**
   * Ids set (to something new) or deleted since the last call, or null when the tree was
   * cleared meanwhile (for incremental planning: null means "plan everything").
   */
  takeChanges(): Set<string> | null {
    const out = this.wiped ? null : (this.touched ?? new Set<string>());
    this.touched = new Set();
    this.wiped = false;
    return out;
  }

  private index(): Map<string, Map<string, string>> {
    this.kids ??= new Map();
    return this.kids;
  }

  override set(id: string, node: N): this {
    const old = super.get(id);
    if (old && sameNode(old, node)) return this;
    this.changed(id);
    if (old) this.unindex(old);
    super.set(id, node);
    if (node.parentId !== null) {
      const idx = this.index();
      let m = idx.get(node.parentId);
      if (!m) idx.set(node.parentId, (m = new Map()));
      m.set(nfc(node.name), id);
    }
    return this;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (!old) return false;
    this.changed(id);
    this.unindex(old);
    return super.delete(id);
  }

  override clear(): void {
    this.changed();
    this.touched = new Set();
    super.clear();
    this.kids = new Map();
  }

  private unindex(n: N): void {
    if (n.parentId === null) return;
    const m = this.index().get(n.parentId);
    if (m && m.get(nfc(n.name)) === n.id) m.delete(nfc(n.name));
  }

  root(): N | undefined {
    for (const n of this.values()) if (n.parentId === null) return n;
    return undefined;
  }

  child(parentId: string, name: string): N | undefined {
    const id = this.index().get(parentId)?.get(nfc(name));
    return id === undefined ? undefined : this.get(id);
  }

  children(parentId: string): N[] {
    const m = this.index().get(parentId);
    if (!m) return [];
    const out: N[] = [];
    for (const id of m.values()) {
      const n = this.get(id);
      if (n) out.push(n);
    }
    return out;
  }

  /** The node at a root-relative path ("/" is the root). */
  resolve(path: string): N | undefined {
    let cur = this.root();
    for (const part of path.split("/")) {
      if (part === "" || !cur) continue;
      cur = this.child(cur.id, part);
    }
    return cur;
  }

  /** Root-relative path of a node ("/a/b"), or undefined when it is not attached to the root. */
  pathOf(id: string): string | undefined {
    const parts: string[] = [];
    let cur = this.get(id);
    for (let guard = 0; cur && guard < 10_000; guard++) {
      if (cur.parentId === null) return "/" + parts.reverse().join("/");
      parts.push(cur.name);
      cur = this.get(cur.parentId);
    }
    return undefined;
  }

  /** Ids of a node and everything below it. */
  subtree(id: string): string[] {
    const out = this.has(id) ? [id] : [];
    for (let i = 0; i < out.length; i++) for (const c of this.children(out[i]!)) out.push(c.id);
    return out;
  }

  removeSubtree(id: string): string[] {
    const ids = this.subtree(id);
    for (const k of ids.reverse()) this.delete(k);
    return ids;
  }
}

export function splitPath(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf("/");
  return { parent: i <= 0 ? "/" : path.slice(0, i), name: path.slice(i + 1) };
}

export function joinRemote(root: string, rel: string): string {
  if (rel === "/" || rel === "") return root;
  return root === "/" ? rel : root + rel;
}
