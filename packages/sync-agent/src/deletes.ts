import type { RemoteNode } from "@cumulus/sync-engine/model";
import type { DeleteRemoteOp, Operation } from "@cumulus/sync-engine/operations";
import type { IndexedTree } from "./tree.ts";

/**
 * Folds the remote deletes of a folder that was deleted locally with everything in it
 * (`rm -r`: the plan trashes each item, then the folder) into one recursive delete of the
 * folder, which the server does in one transaction: 300 files cost one request instead
 * of 300 in a row. Only when the plan deletes every item the remote tree has below the
 * folder, each before the folder, so the result is the same tree. Done here, after the
 * pure planner, because it is a matter of how the server is asked, not of what to do.
 *
 * What the per-item deletes checked and this does not: each file's version. An edit
 * another device made inside the folder after this agent's last look at the feed is
 * trashed with the folder (restorable from the trash with it), where a per-file delete
 * would have stopped and replanned. The folder's own id is still checked by the server.
 */
export function collapseFolderDeletes(ops: readonly Operation[], remote: IndexedTree<RemoteNode>): Operation[] {
  const at = new Map<string, number>();
  ops.forEach((op, i) => {
    if (op.kind === "deleteRemote") at.set(op.remoteId, i);
  });
  const drop = new Set<number>();
  const replace = new Map<number, DeleteRemoteOp>();
  for (const [id, i] of at) {
    const op = ops[i] as DeleteRemoteOp;
    if (op.type !== "folder" || op.recursive || drop.has(i)) continue;
    const below = remote.subtree(id).slice(1);
    if (below.length === 0) continue;
    const idx = below.map((d) => at.get(d));
    if (!idx.every((j) => j !== undefined && j < i)) continue;
    for (const j of idx as number[]) {
      drop.add(j);
      replace.delete(j);
    }
    replace.set(i, {
      ...op,
      recursive: true,
      reason: `${op.reason} (the folder and its ${below.length} items at once)`,
    });
  }
  if (drop.size === 0) return [...ops];
  const out: Operation[] = [];
  ops.forEach((op, i) => {
    if (!drop.has(i)) out.push(replace.get(i) ?? op);
  });
  return out;
}

/**
 * Whether two remote deletes can run side by side: neither is inside the other (a folder's
 * non-recursive delete needs its items gone first).
 */
export function independentDeletes(a: DeleteRemoteOp, b: DeleteRemoteOp): boolean {
  const inside = (x: string, y: string) => x === y || x.startsWith(y.endsWith("/") ? y : `${y}/`);
  return !inside(a.path, b.path) && !inside(b.path, a.path);
}
