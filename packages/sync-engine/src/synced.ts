import { sameName, SyncedStore, type LocalTree, type RemoteTree, type SyncedNode } from "./model.ts";
import type { Operation, Outcome } from "./operations.ts";

/**
 * Records a successful operation in the synced tree. `remote` and `local` are the trees as
 * they are AFTER the operation (the executor patches its views with what it just did).
 *
 * A record's position (parent, name) is updated only when both sides now agree on it: after
 * the first of two renames of the same item (a case conflict renamed on both sides) the
 * record keeps the old name, so an interrupted plan is seen next time as "one side renamed"
 * and finished, not undone. Its content is what was transferred (upload, download) or, for
 * other operations, what both sides now hold.
 */
export function applyOutcome(
  synced: Map<string, SyncedNode>,
  op: Operation,
  outcome: Outcome,
  remote: RemoteTree,
  local: LocalTree,
): void {
  switch (op.kind) {
    case "unlink":
      remove(synced, op.remoteId);
      return;
    case "deleteRemote":
      remove(synced, op.remoteId);
      if (op.recursive) dropVanished(synced, remote, local);
      return;
    case "deleteLocal":
      for (const id of idsByLocal(synced, op.localId)) remove(synced, id);
      return;
    case "link":
      relink(synced, op.remoteId, op.localId, remote, local, undefined);
      return;
    case "mkdirRemote":
      if (outcome.remoteId) relink(synced, outcome.remoteId, op.localId, remote, local, undefined);
      return;
    case "mkdirLocal":
      if (outcome.localId) relink(synced, op.remoteId, outcome.localId, remote, local, undefined);
      return;
    case "upload": {
      const remoteId = op.remoteId ?? outcome.remoteId;
      if (!remoteId) return;
      const version = outcome.version ?? remote.get(remoteId)?.version;
      relink(synced, remoteId, op.localId, remote, local, { contentHash: op.expectedHash, version });
      return;
    }
    case "download":
      relink(synced, op.remoteId, outcome.localId ?? op.localId ?? "", remote, local, {
        contentHash: outcome.contentHash ?? op.contentHash ?? remote.get(op.remoteId)?.contentHash,
        version: op.version,
      });
      return;
    case "moveRemote":
    case "moveLocal":
      if (op.remoteId !== null && op.localId !== null)
        relink(synced, op.remoteId, op.localId, remote, local, undefined);
      return;
  }
}

function idsByLocal(synced: Map<string, SyncedNode>, localId: string): string[] {
  if (synced instanceof SyncedStore) return synced.idsByLocal(localId);
  const out: string[] = [];
  for (const [id, s] of synced) if (s.localId === localId) out.push(id);
  return out;
}

function childIds(synced: Map<string, SyncedNode>, id: string): string[] {
  if (synced instanceof SyncedStore) return synced.childIds(id);
  const out: string[] = [];
  for (const [cid, s] of synced) if (s.parentId === id) out.push(cid);
  return out;
}

function remove(synced: Map<string, SyncedNode>, id: string): void {
  if (synced.get(id)?.parentId === null) return; // the root link is permanent
  synced.delete(id);
}

function dropVanished(synced: Map<string, SyncedNode>, remote: RemoteTree, local: LocalTree): void {
  for (const [id, s] of synced) if (s.parentId !== null && !remote.has(id) && !local.has(s.localId)) synced.delete(id);
}

function relink(
  synced: Map<string, SyncedNode>,
  remoteId: string,
  localId: string,
  remote: RemoteTree,
  local: LocalTree,
  transferred: { contentHash: string | undefined; version: number | undefined } | undefined,
): void {
  const r = remote.get(remoteId);
  const l = local.get(localId);
  if (!r || !l || r.type !== l.type || r.parentId === null) return;
  const old = synced.get(remoteId);
  const posAgree =
    sameName(r.name, l.name) && l.parentId !== null && synced.get(r.parentId ?? "")?.localId === l.parentId;
  const contentAgree = r.type === "folder" || (r.contentHash !== undefined && r.contentHash === l.contentHash);
  // A brand-new link must start from agreement; otherwise the next plan would take one side's
  // content for an edit of the other's.
  if (!old && !transferred && !contentAgree) return;

  // The same local item may be linked under another remote id (a re-created item): that
  // record is replaced, and its children now hang under this one.
  for (const id of idsByLocal(synced, localId)) {
    if (id === remoteId) continue;
    synced.delete(id);
    for (const cid of childIds(synced, id)) synced.set(cid, { ...synced.get(cid)!, parentId: remoteId });
  }
  const content = transferred
    ? transferred
    : contentAgree || !old
      ? { contentHash: r.contentHash, version: r.version }
      : { contentHash: old.contentHash, version: old.version };
  synced.set(remoteId, {
    id: remoteId,
    localId,
    parentId: posAgree || !old ? r.parentId : old.parentId,
    name: posAgree || !old ? r.name : old.name,
    type: r.type,
    contentHash: r.type === "file" ? content.contentHash : undefined,
    version: r.type === "file" ? content.version : undefined,
  });
}
