import { nfc, type LocalTree, type RemoteTree, type SyncedNode, type SyncedTree } from "./model.ts";
import { planDetailed, type PlanOptions, type PlanResult, type Waiting } from "./planner.ts";

/**
 * What changed in the three trees since a plan that was carried out in full (every operation
 * done): ids set or deleted in each tree, and the items that plan left waiting.
 */
export interface Changes {
  remote: Iterable<string>;
  local: Iterable<string>;
  synced: Iterable<string>;
  /** The `waiting` list of the previous plan: those items are planned again. */
  waiting?: readonly Waiting[];
}

export interface IncrementalResult extends PlanResult {
  /** False when the whole folder was planned (the changes reached too far, or a rename was needed). */
  scoped: boolean;
  /** Items (over the three trees) the plan looked at. */
  planned: number;
}

/** Above this share of the trees, planning a subset saves too little to be worth it. */
const MAX_SCOPE_SHARE = 0.5;

/**
 * The plan `planWithReport` would make, computed from the changed items only: while files
 * arrive, most of a large folder is unchanged and in sync, and its items have no operation.
 * The planner runs on sub-trees holding what the changes can reach — each changed item
 * with its counterparts on the other sides (linked through the synced tree), its subtree on
 * every side, its ancestors, and the siblings its names could collide with — so the result
 * equals the full plan as long as the unchanged items had nothing to do before (the previous
 * plan was carried out completely). When a scoped plan has to invent a name (conflicted
 * copy, collision rename), the candidates could collide with items outside the scope, so
 * the whole folder is planned instead; likewise when the changes reach most of it.
 */
export function planIncremental(
  remote: RemoteTree,
  local: LocalTree,
  synced: SyncedTree,
  changes: Changes,
  options: PlanOptions = {},
  /** Plan everything when the scope would hold more than this share of the items (tests: 1). */
  maxShare = MAX_SCOPE_SHARE,
): IncrementalResult {
  const total = remote.size + local.size + synced.size;
  const full = (): IncrementalResult => ({
    ...planDetailed(remote, local, synced, options),
    scoped: false,
    planned: total,
  });
  const scope = scopeOf(remote, local, synced, changes, Math.floor(total * maxShare));
  if (!scope) return full();
  // The full tree's order, so that the plan lists its operations in the same order.
  const sub = <N>(tree: ReadonlyMap<string, N>, ids: ReadonlySet<string>): Map<string, N> => {
    const out = new Map<string, N>();
    for (const [id, n] of tree) if (ids.has(id)) out.set(id, n);
    return out;
  };
  const res = planDetailed(sub(remote, scope.r), sub(local, scope.l), sub(synced, scope.s), options);
  if (res.invented) return full();
  return {
    operations: res.operations,
    waiting: res.waiting,
    scoped: true,
    planned: scope.r.size + scope.l.size + scope.s.size,
  };
}

interface TreeNodeLike {
  readonly id: string;
  readonly parentId: string | null;
  readonly name: string;
}

/**
 * Children by parent id, indexed on first use. (Not a tree's own index: the agent's keys
 * children by NFC name, and two siblings may differ only in normalization on disk.)
 */
function childLister<N extends TreeNodeLike>(tree: ReadonlyMap<string, N>): (id: string) => readonly N[] {
  let idx: Map<string, N[]> | undefined;
  return (id) => {
    if (!idx) {
      idx = new Map();
      for (const n of tree.values()) {
        if (n.parentId === null) continue;
        let l = idx.get(n.parentId);
        if (!l) idx.set(n.parentId, (l = []));
        l.push(n);
      }
    }
    return idx.get(id) ?? [];
  };
}

function syncedByLocal(synced: SyncedTree): (localId: string) => readonly string[] {
  const t = synced as SyncedTree & { idsByLocal?: (id: string) => string[] };
  if (typeof t.idsByLocal === "function") return (id) => t.idsByLocal!(id);
  let idx: Map<string, string[]> | undefined;
  return (id) => {
    if (!idx) {
      idx = new Map();
      for (const s of synced.values()) {
        let l = idx.get(s.localId);
        if (!l) idx.set(s.localId, (l = []));
        l.push(s.id);
      }
    }
    return idx.get(id) ?? [];
  };
}

/** The collision key wider than any the planner uses (case folded whatever the file system). */
function wideKey(name: string): string {
  return nfc(name).toLowerCase();
}

/**
 * Ids per tree that a plan of `changes` has to see, or null when they reach more than
 * `limit` items (plan everything then).
 */
function scopeOf(
  remote: RemoteTree,
  local: LocalTree,
  synced: SyncedTree,
  changes: Changes,
  limit: number,
): { r: Set<string>; l: Set<string>; s: Set<string> } | null {
  const rKids = childLister(remote);
  const lKids = childLister(local);
  const sKids = childLister<SyncedNode>(synced);
  const byLocal = syncedByLocal(synced);
  const r = new Set<string>();
  const l = new Set<string>();
  const s = new Set<string>();
  let count = 0;
  const over = () => count > limit;

  // Inclusion closes over links (remote id = synced id; synced.localId = local id) and parents.
  const work: ["r" | "l" | "s", string][] = [];
  const addR = (id: string | null) => {
    if (id === null || r.has(id) || !remote.has(id)) return;
    r.add(id);
    count++;
    work.push(["r", id]);
  };
  const addL = (id: string | null) => {
    if (id === null || l.has(id) || !local.has(id)) return;
    l.add(id);
    count++;
    work.push(["l", id]);
  };
  const addS = (id: string | null) => {
    if (id === null || s.has(id) || !synced.has(id)) return;
    s.add(id);
    count++;
    work.push(["s", id]);
  };
  const close = (): void => {
    while (work.length > 0 && !over()) {
      const [side, id] = work.pop()!;
      if (side === "r") {
        addS(id);
        addR(remote.get(id)!.parentId);
      } else if (side === "l") {
        for (const sid of byLocal(id)) addS(sid);
        addL(local.get(id)!.parentId);
      } else {
        const rec = synced.get(id)!;
        addR(id);
        addL(rec.localId);
        addS(rec.parentId);
      }
    }
  };

  // Seeds: the changed items and everything linked to them, on all three sides.
  const seedR = new Set<string>();
  const seedL = new Set<string>();
  const seedS = new Set<string>();
  const stack: ["r" | "l" | "s", string][] = [];
  for (const id of changes.remote) stack.push(["r", id]);
  for (const id of changes.local) stack.push(["l", id]);
  for (const id of changes.synced) stack.push(["s", id]);
  for (const w of changes.waiting ?? []) {
    const id = w.side === "local" ? resolvePath(local, lKids, w.path) : resolvePath(remote, rKids, w.path);
    stack.push([w.side === "local" ? "l" : "r", id]);
  }
  // A changed id seeds its counterparts by id even when gone from its own tree (a deleted
  // remote entry leaves its synced record and local item behind).
  while (stack.length > 0) {
    const [side, id] = stack.pop()!;
    if (side === "r") {
      if (seedR.has(id)) continue;
      seedR.add(id);
      stack.push(["s", id]);
    } else if (side === "l") {
      if (seedL.has(id)) continue;
      seedL.add(id);
      for (const sid of byLocal(id)) stack.push(["s", sid]);
    } else {
      if (seedS.has(id)) continue;
      seedS.add(id);
      stack.push(["r", id]);
      const rec = synced.get(id);
      if (rec) stack.push(["l", rec.localId]);
    }
    if (seedR.size + seedL.size + seedS.size > limit) return null;
  }

  // Roots always.
  for (const [tree, add] of [
    [remote, addR],
    [local, addL],
    [synced, addS],
  ] as const)
    for (const n of tree.values())
      if (n.parentId === null) {
        add(n.id);
        break;
      }

  // Each seed: its subtree in its own tree (the planner decides on folder contents as a whole
  // when a folder moves, goes or merges) and the siblings sharing one of its names.
  const seedNames = new Map<string, Set<string>>(); // parent id on a side → wide keys
  const note = (side: string, parent: string | null, name: string) => {
    if (parent === null) return;
    const k = side + parent;
    let set = seedNames.get(k);
    if (!set) seedNames.set(k, (set = new Set()));
    set.add(wideKey(name));
  };
  const subtree = <N extends TreeNodeLike>(
    kids: (id: string) => readonly N[],
    id: string,
    add: (id: string) => void,
  ): void => {
    const todo = [id];
    while (todo.length > 0 && !over())
      for (const c of kids(todo.pop()!)) {
        add(c.id);
        todo.push(c.id);
      }
  };
  for (const id of seedR) {
    const n = remote.get(id);
    if (!n) continue;
    addR(id);
    subtree(rKids, id, addR);
    note("r", n.parentId, n.name);
  }
  for (const id of seedL) {
    const n = local.get(id);
    if (!n) continue;
    addL(id);
    subtree(lKids, id, addL);
    note("l", n.parentId, n.name);
  }
  for (const id of seedS) {
    const n = synced.get(id);
    if (!n) continue;
    addS(id);
    subtree(sKids, id, addS);
    note("s", n.parentId, n.name);
  }
  close();
  if (over()) return null;

  // Siblings: a folder is one place on all three sides (a remote id, its synced record, the
  // record's local id); any name a seed has anywhere may collide there on any side.
  const places = new Map<string, { r: Set<string>; l: Set<string>; names: Set<string> }>();
  for (const [k, names] of seedNames) {
    const side = k[0]!;
    const id = k.slice(1);
    const rIds = new Set<string>();
    const lIds = new Set<string>();
    if (side === "l") {
      lIds.add(id);
      for (const sid of byLocal(id)) rIds.add(sid);
    } else {
      rIds.add(id);
      const rec = synced.get(id);
      if (rec) lIds.add(rec.localId);
    }
    const key = [...rIds].sort().join(",") + "|" + [...lIds].sort().join(",");
    let p = places.get(key);
    if (!p) places.set(key, (p = { r: rIds, l: lIds, names: new Set() }));
    for (const nm of names) p.names.add(nm);
  }
  for (const p of places.values()) {
    for (const rid of p.r) {
      for (const c of rKids(rid)) if (p.names.has(wideKey(c.name))) addR(c.id);
      for (const c of sKids(rid)) if (p.names.has(wideKey(c.name))) addS(c.id);
    }
    for (const lid of p.l) for (const c of lKids(lid)) if (p.names.has(wideKey(c.name))) addL(c.id);
    close();
    if (over()) return null;
  }
  return { r, l, s };
}

/** The id at a root-relative path, or of the deepest folder on the way that exists. */
function resolvePath<N extends TreeNodeLike>(
  tree: ReadonlyMap<string, N>,
  kids: (id: string) => readonly N[],
  path: string,
): string {
  let root: N | undefined;
  for (const n of tree.values())
    if (n.parentId === null) {
      root = n;
      break;
    }
  if (!root) return "";
  let cur: N = root;
  for (const part of path.split("/")) {
    if (part === "") continue;
    const next: N | undefined = kids(cur.id).find((c) => nfc(c.name) === nfc(part));
    if (!next) break;
    cur = next;
  }
  return cur.id;
}
