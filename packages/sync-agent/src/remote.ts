import type { CumulusClient, ChangesResponse, TreeResponse } from "@cumulus/client/client";
import type { RemoteNode } from "@cumulus/sync-engine/model";
import type { AgentState } from "./state.ts";
import { IndexedTree } from "./tree.ts";

type Change = ChangesResponse["changes"][number];

/**
 * The remote tree of one server folder (`remotePath`), kept current from the change feed.
 * Starts from a snapshot (`GET /fs/tree`) and applies change rows by entry id, parent id
 * and name; where a row cannot be applied by itself (a folder moved in from elsewhere, a
 * restore from the trash) the affected subtree is snapshotted again. Persisted with the
 * cursor after every batch.
 */
export class RemoteMirror {
  readonly client: CumulusClient;
  readonly remotePath: string;
  readonly state: AgentState;
  tree: IndexedTree<RemoteNode>;
  cursor: number;
  rootId: string | null;
  private dirty = new Set<string>();

  constructor(client: CumulusClient, remotePath: string, state: AgentState) {
    this.client = client;
    this.remotePath = remotePath;
    this.state = state;
    const loaded = state.loadRemote();
    this.tree = loaded.tree;
    this.cursor = loaded.cursor;
    this.rootId = this.tree.root()?.id ?? null;
    if (state.getMeta("remotePath") !== remotePath) {
      this.tree = new IndexedTree();
      this.rootId = null;
      this.cursor = 0;
    }
  }

  /** Replaces the whole tree with a fresh snapshot (first start, or a feed we cannot follow). */
  async resnapshot(signal?: AbortSignal): Promise<void> {
    const snap = await this.client.tree(this.remotePath, { signal });
    const tree = new IndexedTree<RemoteNode>();
    const [root, ...rest] = snap.entries;
    if (!root || root.type !== "folder")
      throw Object.assign(new Error(`${this.remotePath} is not a folder`), { code: "NOT_A_FOLDER" });
    tree.set(root.id, { id: root.id, parentId: null, name: "", type: "folder" });
    for (const e of rest) tree.set(e.id, nodeOf(e));
    this.tree = tree;
    this.rootId = root.id;
    this.cursor = snap.cursor;
    this.dirty.clear();
    this.state.tx(() => {
      this.state.saveRemote(tree, [], snap.cursor, true);
      this.state.setMeta("remotePath", this.remotePath);
    });
  }

  /**
   * Fetches and applies the changes after the cursor (long-polling `wait` seconds when there
   * are none). Two pulls may overlap (the feed's long-poll and a sync round catching up):
   * an answer is applied only if the cursor has not moved since it was asked for.
   * Returns how many changes touched the tree.
   */
  async pull(wait: number, signal?: AbortSignal): Promise<number> {
    let touched = 0;
    for (;;) {
      const from = this.cursor;
      const res = await this.client.changes(from, { wait, signal });
      if (this.cursor !== from) return touched;
      for (const c of res.changes) if (await this.apply(c, signal)) touched++;
      this.cursor = res.cursor;
      this.persist();
      // A full page: more are waiting; drain them before anyone plans on a half-applied feed.
      if (res.changes.length === 0 || res.cursor === from) return touched;
      wait = 0;
    }
  }

  persist(): void {
    this.state.saveRemote(this.tree, this.dirty, this.cursor);
    this.dirty.clear();
  }

  /** Records what the agent itself just did on the server (the feed will confirm it later). */
  put(node: RemoteNode): void {
    this.tree.set(node.id, node);
    this.dirty.add(node.id);
  }

  remove(id: string): void {
    for (const k of this.tree.removeSubtree(id)) this.dirty.add(k);
  }

  pathOf(id: string): string | undefined {
    const rel = this.tree.pathOf(id);
    if (rel === undefined) return undefined;
    return rel === "/" ? this.remotePath : this.remotePath === "/" ? rel : this.remotePath + rel;
  }

  private async apply(c: Change, signal?: AbortSignal): Promise<boolean> {
    const root = this.rootId;
    if (root === null) return false;
    if (c.entryId === root) {
      // The synced folder itself was renamed, moved or trashed: start over from its path.
      if (c.kind === "trash" || c.kind === "purge" || c.kind === "move") {
        await this.resnapshot(signal);
        return true;
      }
      return false;
    }
    const had = this.tree.has(c.entryId);
    if (c.kind === "trash" || c.kind === "purge") {
      if (had) this.remove(c.entryId);
      return had;
    }
    if (c.parentId === undefined || c.name === undefined) {
      // A server without the sync fields: only a snapshot tells where things are.
      await this.resnapshot(signal);
      return true;
    }
    const parentIn = c.parentId !== null && this.tree.get(c.parentId)?.type === "folder";
    if (!parentIn) {
      if (had) this.remove(c.entryId);
      return had;
    }
    const old = this.tree.get(c.entryId);
    if (c.kind === "restore" || (!had && c.kind === "move")) {
      // Arrives with content we have not seen: read its subtree.
      if (c.path === null) await this.resnapshot(signal);
      else await this.graft(c.path, c.parentId!, signal);
      return true;
    }
    // Versions only grow: an older row replayed after a snapshot does not roll content back.
    const newer = c.version !== null && (old?.version === undefined || c.version >= old.version);
    this.put({
      id: c.entryId,
      parentId: c.parentId,
      name: c.name,
      type: c.type,
      version: c.type === "file" ? (newer ? c.version! : old?.version) : undefined,
      contentHash: c.type === "file" ? (newer ? (c.contentHash ?? undefined) : old?.contentHash) : undefined,
    });
    return true;
  }

  private async graft(path: string, parentId: string, signal?: AbortSignal): Promise<void> {
    let snap: TreeResponse;
    try {
      snap = await this.client.tree(path, { signal });
    } catch (err) {
      if ((err as { code?: string }).code === "NOT_FOUND") return; // moved on again; a later row says where
      throw err;
    }
    const [top, ...rest] = snap.entries;
    if (!top || top.parentId !== parentId) return;
    if (this.tree.has(top.id)) this.remove(top.id);
    this.put(nodeOf(top));
    for (const e of rest) this.put(nodeOf(e));
  }
}

function nodeOf(e: TreeResponse["entries"][number]): RemoteNode {
  return {
    id: e.id,
    parentId: e.parentId,
    name: e.name,
    type: e.type,
    version: e.type === "file" ? (e.version ?? undefined) : undefined,
    contentHash: e.type === "file" ? (e.contentHash ?? undefined) : undefined,
  };
}
