import {
  rootOf,
  sameName,
  type LocalNode,
  type LocalTree,
  type NodeType,
  type RemoteNode,
  type RemoteTree,
  type SyncedNode,
  type SyncedTree,
} from "./model.ts";

/**
 * One side's changes since the synced tree. Identity makes moves cheap to see: an item whose
 * parent or name differs from its record moved, and a folder rename is ONE move (its children
 * keep their parent id and name). Deletions are reported for the topmost item only.
 */
export type Change =
  | { kind: "create"; id: string; type: NodeType }
  | { kind: "delete"; syncedId: string; type: NodeType }
  | { kind: "edit"; id: string; syncedId: string }
  | { kind: "move"; id: string; syncedId: string; type: NodeType };

export function remoteMoved(base: SyncedNode, r: RemoteNode): boolean {
  return r.parentId !== base.parentId || !sameName(r.name, base.name);
}

export function localMoved(base: SyncedNode, l: LocalNode, synced: SyncedTree): boolean {
  const parent = base.parentId === null ? undefined : synced.get(base.parentId);
  // A record whose parent record is gone has no agreed place any more: count it as moved.
  return !parent || l.parentId !== parent.localId || !sameName(l.name, base.name);
}

/** By content hash when both are known (a new version with the same bytes is no edit), else by version. */
export function remoteEdited(base: SyncedNode, r: RemoteNode): boolean {
  if (r.type !== "file") return false;
  if (r.contentHash !== undefined && base.contentHash !== undefined) return r.contentHash !== base.contentHash;
  return r.version !== base.version;
}

export function localEdited(base: SyncedNode, l: LocalNode): boolean {
  return l.type === "file" && l.contentHash !== base.contentHash;
}

export function diffRemote(remote: RemoteTree, synced: SyncedTree): Change[] {
  const root = rootOf(remote);
  const out: Change[] = [];
  for (const r of remote.values()) {
    if (r.id === root.id) continue;
    const base = synced.get(r.id);
    if (!base || base.type !== r.type) {
      out.push({ kind: "create", id: r.id, type: r.type });
      continue;
    }
    if (remoteMoved(base, r)) out.push({ kind: "move", id: r.id, syncedId: base.id, type: r.type });
    if (remoteEdited(base, r)) out.push({ kind: "edit", id: r.id, syncedId: base.id });
  }
  const gone = (s: SyncedNode) => remote.get(s.id)?.type !== s.type;
  for (const s of synced.values()) {
    if (s.parentId === null || !gone(s)) continue;
    const parent = synced.get(s.parentId);
    if (parent && parent.parentId !== null && gone(parent)) continue;
    out.push({ kind: "delete", syncedId: s.id, type: s.type });
  }
  return out;
}

export function diffLocal(local: LocalTree, synced: SyncedTree): Change[] {
  const root = rootOf(local);
  const byLocal = new Map<string, SyncedNode>();
  for (const s of synced.values()) if (!byLocal.has(s.localId)) byLocal.set(s.localId, s);
  const out: Change[] = [];
  for (const l of local.values()) {
    if (l.id === root.id) continue;
    const base = byLocal.get(l.id);
    if (!base || base.type !== l.type) {
      out.push({ kind: "create", id: l.id, type: l.type });
      continue;
    }
    if (localMoved(base, l, synced)) out.push({ kind: "move", id: l.id, syncedId: base.id, type: l.type });
    if (l.contentHash !== undefined && localEdited(base, l)) out.push({ kind: "edit", id: l.id, syncedId: base.id });
  }
  const gone = (s: SyncedNode) => local.get(s.localId)?.type !== s.type;
  for (const s of synced.values()) {
    if (s.parentId === null || !gone(s)) continue;
    const parent = synced.get(s.parentId);
    if (parent && parent.parentId !== null && gone(parent)) continue;
    out.push({ kind: "delete", syncedId: s.id, type: s.type });
  }
  return out;
}

/** Counts by kind, for logs and status displays. */
export function countChanges(changes: readonly Change[]): Record<Change["kind"], number> {
  const c = { create: 0, delete: 0, edit: 0, move: 0 };
  for (const ch of changes) c[ch.kind]++;
  return c;
}
