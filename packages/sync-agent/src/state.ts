import { mkdirSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { SyncedStore, type NodeType, type RemoteNode, type SyncedNode } from "@cumulus/sync-engine/model";
import { IndexedTree } from "./tree.ts";

export interface HashEntry {
  size: number;
  mtimeMs: number;
  hash: string;
}

/**
 * The agent's durable state in `<stateDir>/state.db` (node:sqlite, WAL): the synced tree,
 * the remote tree with the change-feed cursor it reflects, and the local hash cache. Every
 * write (or all writes of one operation, joined by `tx`) is one transaction, committed
 * before the agent moves on, so a kill -9 at any point leaves a state the planner can
 * finish from: an operation done but not recorded
 * is seen again as a change on one side and linked or redone (uploads resume from their
 * journal, so finished chunks are not sent twice).
 */
export class AgentState {
  readonly db: DatabaseSync;
  private readonly st: Record<string, StatementSync>;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(path.join(stateDir, "state.db"));
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS synced (id TEXT PRIMARY KEY, localId TEXT NOT NULL, parentId TEXT, name TEXT NOT NULL,
        type TEXT NOT NULL, contentHash TEXT, version INTEGER);
      CREATE TABLE IF NOT EXISTS remote (id TEXT PRIMARY KEY, parentId TEXT, name TEXT NOT NULL, type TEXT NOT NULL,
        version INTEGER, contentHash TEXT);
      CREATE TABLE IF NOT EXISTS hashes (localId TEXT PRIMARY KEY, size INTEGER NOT NULL, mtimeMs REAL NOT NULL, hash TEXT NOT NULL);
    `);
    this.st = {
      getMeta: this.db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      ),
      putSynced: this.db.prepare(
        "INSERT OR REPLACE INTO synced (id, localId, parentId, name, type, contentHash, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      delSynced: this.db.prepare("DELETE FROM synced WHERE id = ?"),
      putRemote: this.db.prepare(
        "INSERT OR REPLACE INTO remote (id, parentId, name, type, version, contentHash) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      delRemote: this.db.prepare("DELETE FROM remote WHERE id = ?"),
      putHash: this.db.prepare("INSERT OR REPLACE INTO hashes (localId, size, mtimeMs, hash) VALUES (?, ?, ?, ?)"),
      delHash: this.db.prepare("DELETE FROM hashes WHERE localId = ?"),
    };
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  getMeta(key: string): string | undefined {
    const row = this.st.getMeta!.get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.st.setMeta!.run(key, value);
  }

  /** The synced tree; every change to it is written through to the database. */
  loadSynced(): PersistentSynced {
    const store = new PersistentSynced(this);
    const rows = this.db.prepare("SELECT * FROM synced").all() as unknown as SyncedRow[];
    store.loading = true;
    for (const r of rows)
      store.set(r.id, {
        id: r.id,
        localId: r.localId,
        parentId: r.parentId,
        name: r.name,
        type: r.type,
        contentHash: r.contentHash ?? undefined,
        version: r.version ?? undefined,
      });
    store.loading = false;
    return store;
  }

  writeSynced(n: SyncedNode): void {
    this.st.putSynced!.run(n.id, n.localId, n.parentId, n.name, n.type, n.contentHash ?? null, n.version ?? null);
  }

  deleteSynced(id: string): void {
    this.st.delSynced!.run(id);
  }

  clearSynced(): void {
    this.db.exec("DELETE FROM synced");
  }

  loadRemote(): { tree: IndexedTree<RemoteNode>; cursor: number } {
    const tree = new IndexedTree<RemoteNode>();
    for (const r of this.db.prepare("SELECT * FROM remote").all() as unknown as RemoteRow[])
      tree.set(r.id, {
        id: r.id,
        parentId: r.parentId,
        name: r.name,
        type: r.type,
        version: r.version ?? undefined,
        contentHash: r.contentHash ?? undefined,
      });
    return { tree, cursor: Number(this.getMeta("cursor") ?? "0") };
  }

  /** Writes the remote nodes that changed (`dirty`; absent from the tree = deleted) and the cursor, atomically. */
  saveRemote(tree: ReadonlyMap<string, RemoteNode>, dirty: Iterable<string>, cursor: number, replaceAll = false): void {
    this.tx(() => {
      if (replaceAll) this.db.exec("DELETE FROM remote");
      for (const id of replaceAll ? tree.keys() : dirty) {
        const n = tree.get(id);
        if (n) this.st.putRemote!.run(n.id, n.parentId, n.name, n.type, n.version ?? null, n.contentHash ?? null);
        else this.st.delRemote!.run(id);
      }
      this.setMeta("cursor", String(cursor));
    });
  }

  loadHashes(): Map<string, HashEntry> {
    const out = new Map<string, HashEntry>();
    for (const r of this.db.prepare("SELECT * FROM hashes").all() as unknown as (HashEntry & { localId: string })[])
      out.set(r.localId, { size: r.size, mtimeMs: r.mtimeMs, hash: r.hash });
    return out;
  }

  saveHashes(changed: Iterable<[string, HashEntry | null]>): void {
    const rows = [...changed];
    if (rows.length === 0) return; // most scans and operations learn no hash: no empty commit
    this.tx(() => {
      for (const [id, h] of rows) {
        if (h) this.st.putHash!.run(id, h.size, h.mtimeMs, h.hash);
        else this.st.delHash!.run(id);
      }
    });
  }

  private depth = 0;

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  tx(fn: () => void): void {
    if (this.depth > 0) {
      fn();
      return;
    }
    this.depth++;
    try {
      this.txInner(fn);
    } finally {
      this.depth--;
    }
  }

  /**
   * Runs async `fn` with every write made meanwhile (its own and any `tx` of other tasks)
   * in one transaction, committed when it ends, whether it succeeds or throws: a group
   * commit, not an atomic unit (each write is one an operation already did). A nested call
   * joins the outer one.
   */
  async group<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn();
    this.depth++;
    this.db.exec("BEGIN");
    try {
      return await fn();
    } finally {
      this.depth--;
      this.db.exec("COMMIT");
    }
  }

  private txInner(fn: () => void): void {
    this.db.exec("BEGIN");
    try {
      fn();
      this.db.exec("COMMIT");
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
  }
}

type SyncedRow = {
  id: string;
  localId: string;
  parentId: string | null;
  name: string;
  type: NodeType;
  contentHash: string | null;
  version: number | null;
};
type RemoteRow = {
  id: string;
  parentId: string | null;
  name: string;
  type: NodeType;
  version: number | null;
  contentHash: string | null;
};

/** A SyncedStore that writes every change through to the state database. */
export class PersistentSynced extends SyncedStore {
  declare private state?: AgentState;
  declare loading?: boolean;
  declare private changes?: number;

  /** Grows with every change: equal stamps, equal contents. */
  get stamp(): number {
    return this.changes ?? 0;
  }

  constructor(state: AgentState) {
    super();
    this.state = state;
  }

  override set(id: string, node: SyncedNode): this {
    this.changes = (this.changes ?? 0) + 1;
    super.set(id, node);
    if (this.state && !this.loading) this.state.writeSynced(node);
    return this;
  }

  override delete(id: string): boolean {
    this.changes = (this.changes ?? 0) + 1;
    const had = super.delete(id);
    if (had && this.state) this.state.deleteSynced(id);
    return had;
  }

  override clear(): void {
    this.changes = (this.changes ?? 0) + 1;
    super.clear();
  }
}
