import { localEdited, localMoved, remoteEdited, remoteMoved } from "./diff.ts";
import { compileIgnore, isJunk, type IgnoreMatcher } from "./ignore.ts";
import {
  childrenIndex,
  joinPath,
  nameKey,
  nfc,
  rootOf,
  sameName,
  treeProblems,
  type LocalNode,
  type LocalTree,
  type NodeType,
  type RemoteNode,
  type RemoteTree,
  type SyncedNode,
  type SyncedTree,
} from "./model.ts";
import { conflictName, formatDate, uniqueName, type ConflictKind } from "./names.ts";
import type { Operation, Side } from "./operations.ts";

export interface PlanOptions {
  /** The local file system folds case (macOS, Windows): "A" and "a" collide. */
  caseInsensitive?: boolean;
  /** Default: the default patterns only, matching case like the file system. */
  ignore?: IgnoreMatcher;
  /** Selective sync: remote folders (and their subtrees) this device does not sync. */
  excludedRemoteIds?: ReadonlySet<string>;
  /** Goes into conflicted-copy names. */
  device?: string;
  /** YYYY-MM-DD for conflicted-copy names; pass it to keep planning pure (default: today, UTC). */
  date?: string;
  /** Names the server accepts (wire to `nameProblem` from @cumulus/protocol/paths); default: all. */
  isValidName?: (name: string) => boolean;
}

export interface Waiting {
  side: Side;
  path: string;
  reason: string;
}

export interface PlanResult {
  operations: Operation[];
  /** Items deliberately left alone this round, and why (for status displays and tests). */
  waiting: Waiting[];
}

/**
 * Derives the operations that bring the remote and local trees to the same state, from the
 * three trees only. Pure: same input, same plan. See the README for the rules.
 */
export function plan(remote: RemoteTree, local: LocalTree, synced: SyncedTree, options: PlanOptions = {}): Operation[] {
  return planWithReport(remote, local, synced, options).operations;
}

// --- internal model ----------------------------------------------------------------------

/** A position in the merged namespace: parent node key + name. Mutable while planning. */
interface Pos {
  parent: string;
  name: string;
}

const BAD_NAME = "name not allowed on the server";

type Kind = "root" | "record" | "remoteNew" | "localNew" | "split" | "copy" | "occupant";

/**
 * One item of the merged view. Keys: "s:<remote id>" for synced records, "r:<id>" / "l:<id>"
 * for items new on one side (and "l:<id>" for the local copy of a record whose remote is
 * now excluded), "c:<id>" for a conflicted copy, "ro:"/"lo:" for occupants (ignored or
 * excluded items that nobody touches but whose names are taken).
 */
interface MNode {
  key: string;
  kind: Kind;
  type: NodeType;
  base?: SyncedNode | undefined;
  rem?: RemoteNode | undefined;
  loc?: LocalNode | undefined;
  rPos?: Pos | undefined;
  lPos?: Pos | undefined;
  /** Left exactly as it is on both sides (unstable, unhashed, unsyncable name, occupant). */
  fixed: boolean;
  /** Fixed only for now (a file still being written): others wait rather than rename around it. */
  transient: boolean;
  fixedReason?: string;
  /** Occupant that may be deleted along with its folder (OS junk). */
  disposable: boolean;
  /** One side deleted it; it survives only if changed on the other side or holding survivors. */
  deletedSide?: Side | undefined;
  selfChanged: boolean;
  want?: Pos | undefined;
  wantFrom: "remote" | "local" | "both";
  wantR?: Pos | null;
  wantL?: Pos | null;
  content?: "remote" | "local" | undefined;
  alive: boolean;
  reason: string;
  excludedOccupant?: boolean;
}

interface Ctx {
  ci: boolean;
  nodes: Map<string, MNode>;
  alias: Map<string, string>;
  rootKey: string;
  waiting: Waiting[];
  /** A name was made up (conflicted copy, collision rename). */
  invented: boolean;
  opts: Required<Pick<PlanOptions, "device" | "date">>;
  /** Current children per folder key, built on first need. */
  occupants?: Map<string, Set<string>>;
}

export function planWithReport(
  remote: RemoteTree,
  local: LocalTree,
  synced: SyncedTree,
  options: PlanOptions = {},
): PlanResult {
  const { operations, waiting } = planDetailed(remote, local, synced, options);
  return { operations, waiting };
}

/**
 * `planWithReport`, also telling whether the plan made up a name (a conflicted copy, a
 * rename out of a collision): such a name was checked against the trees it was given only
 * (see planIncremental).
 */
export function planDetailed(
  remote: RemoteTree,
  local: LocalTree,
  synced: SyncedTree,
  options: PlanOptions = {},
): PlanResult & { invented: boolean } {
  const ci = options.caseInsensitive ?? false;
  const ignore = options.ignore ?? compileIgnore([], { caseInsensitive: ci });
  const excluded = options.excludedRemoteIds ?? new Set<string>();
  const validName = options.isValidName ?? (() => true);
  for (const [label, tree] of [
    ["remote", remote],
    ["local", local],
  ] as const) {
    const problems = treeProblems<RemoteNode | LocalNode>(tree);
    if (problems.length > 0) throw new Error(`${label} tree is not a tree: ${problems.slice(0, 3).join("; ")}`);
  }
  const rRoot = rootOf(remote);
  const lRoot = rootOf(local);
  const sRoot = synced.get(rRoot.id);
  if (!sRoot || sRoot.localId !== lRoot.id || sRoot.parentId !== null)
    throw new Error("the synced tree must link the two roots (see initialSynced)");

  const rootKey = "s:" + rRoot.id;
  const ctx: Ctx = {
    ci,
    nodes: new Map(),
    alias: new Map(),
    rootKey,
    waiting: [],
    invented: false,
    opts: { device: options.device ?? "this device", date: options.date ?? formatDate(new Date()) },
  };

  // --- 1. what each side shows ----------------------------------------------------------
  // Remote: visible, ignored / excluded (topmost only: an occupant), or hidden below one.
  type RStat = "visible" | "ignored" | "excluded" | "hiddenI" | "hiddenX";
  const rStat = new Map<string, RStat>([[rRoot.id, "visible"]]);
  walk(remote, rRoot.id, (n, parentStat: RStat, relPath) => {
    let s: RStat;
    if (parentStat === "ignored" || parentStat === "hiddenI") s = "hiddenI";
    else if (parentStat === "excluded" || parentStat === "hiddenX") s = "hiddenX";
    else if (excluded.has(n.id)) s = "excluded";
    else if (ignore.matches(relPath, n.type === "folder")) s = "ignored";
    else s = "visible";
    rStat.set(n.id, s);
    return s;
  });
  // Local: visible, frozen (left alone for now / unsyncable name), ignored, hidden below it.
  type LStat = "visible" | "frozen" | "ignored" | "hidden";
  const lStat = new Map<string, LStat>([[lRoot.id, "visible"]]);
  const frozenWhy = new Map<string, string>();
  // A bad name stays bad; the other reasons pass (the write ends, the hash comes).
  const transient = (id: string | undefined) => id !== undefined && frozenWhy.has(id) && frozenWhy.get(id) !== BAD_NAME;
  walk(local, lRoot.id, (n, parentStat: LStat, relPath) => {
    let s: LStat;
    if (parentStat === "ignored" || parentStat === "hidden") s = "hidden";
    else if (ignore.matches(relPath, n.type === "folder")) s = "ignored";
    else if (!validName(n.name)) {
      s = "frozen";
      frozenWhy.set(n.id, BAD_NAME);
    } else if (n.type === "file" && n.unstable) {
      s = "frozen";
      frozenWhy.set(n.id, "still being written");
    } else if (n.type === "file" && n.contentHash === undefined) {
      s = "frozen";
      frozenWhy.set(n.id, "not hashed yet");
    } else s = "visible";
    lStat.set(n.id, s);
    return s;
  });

  // --- 2. records and their usable links ---------------------------------------------------
  // A local id claimed by two records means a damaged synced tree: both are forgotten, so the
  // items come back as new on each side (downloaded/uploaded, never deleted).
  const claims = new Map<string, number>();
  for (const s of synced.values()) if (s.parentId !== null) claims.set(s.localId, (claims.get(s.localId) ?? 0) + 1);
  const records = new Map<string, SyncedNode>();
  const unlinks: SyncedNode[] = [];
  for (const s of synced.values()) {
    if (s.parentId === null) continue;
    if ((claims.get(s.localId) ?? 0) > 1 || s.localId === lRoot.id || s.id === rRoot.id) unlinks.push(s);
    else records.set(s.id, s);
  }
  const recRemote = (s: SyncedNode): RemoteNode | undefined => {
    const r = remote.get(s.id);
    return r && r.type === s.type ? r : undefined;
  };
  const recLocal = (s: SyncedNode): LocalNode | undefined => {
    const l = local.get(s.localId);
    return l && l.type === s.type ? l : undefined;
  };
  const byLocal = new Map<string, SyncedNode>();
  for (const s of records.values()) if (recLocal(s)) byLocal.set(s.localId, s);
  const remoteExcludedRec = (s: SyncedNode): boolean => {
    const r = recRemote(s);
    const st = r ? rStat.get(r.id) : undefined;
    return st === "excluded" || st === "hiddenX";
  };
  const remoteKey = (rid: string): string => {
    if (rid === rRoot.id) return rootKey;
    const st = rStat.get(rid);
    if (st === "ignored" || st === "excluded") return "ro:" + rid;
    const s = records.get(rid);
    return s && recRemote(s) ? "s:" + rid : "r:" + rid;
  };
  const localKey = (lid: string): string => {
    if (lid === lRoot.id) return rootKey;
    if (lStat.get(lid) === "ignored") return "lo:" + lid;
    const s = byLocal.get(lid);
    if (!s || remoteExcludedRec(s)) return "l:" + lid;
    return "s:" + s.id;
  };

  // --- 3. merged nodes ---------------------------------------------------------------------
  const nodes = ctx.nodes;
  const mk = (key: string, kind: Kind, type: NodeType, extra: Partial<MNode>): MNode => {
    const n: MNode = {
      key,
      kind,
      type,
      fixed: false,
      transient: false,
      disposable: false,
      selfChanged: false,
      wantFrom: "both",
      alive: true,
      reason: "",
      ...extra,
    };
    nodes.set(key, n);
    return n;
  };
  mk(rootKey, "root", "folder", { rem: rRoot, loc: lRoot, base: sRoot });

  const extraUnlinks: SyncedNode[] = [];
  for (const s of records.values()) {
    const r = recRemote(s);
    const rs = r ? rStat.get(r.id) : undefined;
    const l = recLocal(s);
    const ls = l ? lStat.get(l.id) : undefined;
    const lPresent = ls === "visible" || ls === "frozen";
    if (rs === "excluded" || rs === "hiddenX") {
      // Selective sync now excludes it: the local copy goes unless it holds local changes.
      if (l && lPresent)
        mk("l:" + l.id, "split", s.type, {
          base: s,
          loc: l,
          fixed: ls === "frozen",
          transient: transient(l.id),
          fixedReason: frozenWhy.get(l.id),
          deletedSide: "remote",
        });
      else extraUnlinks.push(s);
      continue;
    }
    const rPresent = rs === "visible";
    if (!rPresent && !lPresent) {
      extraUnlinks.push(s);
      continue;
    }
    mk("s:" + s.id, "record", s.type, {
      base: s,
      rem: rPresent ? r : undefined,
      loc: lPresent ? l : undefined,
      fixed: ls === "frozen",
      transient: ls === "frozen" && transient(l?.id),
      fixedReason: ls === "frozen" ? frozenWhy.get(l!.id) : undefined,
      deletedSide: !rPresent ? "remote" : !lPresent ? "local" : undefined,
    });
  }
  for (const r of remote.values()) {
    if (r.id === rRoot.id) continue;
    const st = rStat.get(r.id);
    if (st === "visible") {
      const s = records.get(r.id);
      if (!(s && recRemote(s))) mk("r:" + r.id, "remoteNew", r.type, { rem: r });
    } else if (st === "ignored" || st === "excluded") {
      const junk = r.type === "file" && isJunk(r.name);
      mk("ro:" + r.id, "occupant", r.type, {
        rem: r,
        fixed: true,
        disposable: junk,
        excludedOccupant: st === "excluded",
      });
    }
  }
  for (const l of local.values()) {
    if (l.id === lRoot.id) continue;
    const st = lStat.get(l.id);
    if ((st === "visible" || st === "frozen") && !byLocal.has(l.id)) {
      mk("l:" + l.id, "localNew", l.type, {
        loc: l,
        fixed: st === "frozen",
        transient: transient(l.id),
        fixedReason: frozenWhy.get(l.id),
      });
    } else if (st === "ignored") {
      // Junk still being written is not disposable yet (the delete would fail anyway).
      mk("lo:" + l.id, "occupant", l.type, {
        loc: l,
        fixed: true,
        disposable: l.type === "file" && isJunk(l.name) && !l.unstable,
      });
    }
  }
  for (const n of nodes.values()) {
    if (n.kind === "root") continue;
    if (n.rem && n.rem.parentId !== null) n.rPos = { parent: remoteKey(n.rem.parentId), name: n.rem.name };
    if (n.loc && n.loc.parentId !== null) n.lPos = { parent: localKey(n.loc.parentId), name: n.loc.name };
  }

  // --- 4. per-item decisions ---------------------------------------------------------------
  for (const n of [...nodes.values()]) decide(ctx, n, synced);

  // --- 5. no cycles: a local move that would put a folder inside itself yields to remote ---
  fixCycles(ctx);

  // --- 6. survival of items deleted on one side ------------------------------------------
  computeSurvival(ctx);

  // --- 7. collisions, top-down --------------------------------------------------------------
  resolveCollisions(ctx);

  // --- 8. operations, in an order the executor can follow --------------------------------
  const operations = sequence(ctx, [...unlinks, ...extraUnlinks]);
  for (const n of nodes.values())
    if (n.fixed && n.fixedReason && n.loc)
      ctx.waiting.push({ side: "local", path: pathOf(local, n.loc.id), reason: n.fixedReason });
  return { operations, waiting: ctx.waiting, invented: ctx.invented };
}

// --- helpers --------------------------------------------------------------------------

function walk<N extends { id: string; name: string; type: NodeType; parentId: string | null }, S>(
  tree: ReadonlyMap<string, N>,
  rootId: string,
  visit: (n: N, parentStat: S, relPath: string) => S,
): void {
  const kids = childrenIndex(tree);
  const stack: { id: string; stat: S | undefined; path: string }[] = [{ id: rootId, stat: undefined, path: "" }];
  while (stack.length > 0) {
    const { id, stat, path } = stack.pop()!;
    for (const c of kids.get(id) ?? []) {
      const p = path === "" ? c.name : path + "/" + c.name;
      const s = visit(c, (stat ?? "visible") as S, p);
      if (c.type === "folder") stack.push({ id: c.id, stat: s, path: p });
    }
  }
}

function pathOf(tree: ReadonlyMap<string, { parentId: string | null; name: string }>, id: string): string {
  const names: string[] = [];
  let cur = tree.get(id);
  while (cur && cur.parentId !== null) {
    names.push(cur.name);
    cur = tree.get(cur.parentId);
  }
  return "/" + names.reverse().join("/");
}

function resolve(ctx: Ctx, key: string): string {
  let k = key;
  for (let next = ctx.alias.get(k); next !== undefined; next = ctx.alias.get(k)) k = next;
  return k;
}

function sameContent(r: RemoteNode | undefined, l: LocalNode | undefined): boolean {
  return r?.contentHash !== undefined && r.contentHash === l?.contentHash;
}

function decide(ctx: Ctx, n: MNode, synced: SyncedTree): void {
  if (n.kind === "root") return;
  if (n.fixed) {
    n.wantR = n.rPos ?? null;
    n.wantL = n.lPos ?? null;
    return;
  }
  const base = n.base;
  switch (n.kind) {
    case "record": {
      const r = n.rem;
      const l = n.loc;
      if (r && l && base) {
        const rMoved = remoteMoved(base, r);
        const lMoved = localMoved(base, l, synced);
        if (rMoved) {
          n.want = { ...n.rPos! };
          n.wantFrom = "remote";
          const same = lMoved && n.lPos!.parent === n.rPos!.parent && sameName(n.lPos!.name, n.rPos!.name);
          n.reason = !lMoved
            ? "remote move"
            : same
              ? "moved the same way on both sides"
              : "moved on both sides: remote wins";
        } else if (lMoved) {
          n.want = { ...n.lPos! };
          n.wantFrom = "local";
          n.reason = "local move";
        } else {
          n.want = { ...n.rPos! };
          n.wantFrom = "both";
        }
        if (n.type === "file") {
          const rEd = remoteEdited(base, r);
          const lEd = localEdited(base, l);
          if (rEd && lEd && !sameContent(r, l)) splitConflict(ctx, n);
          else if (rEd && !lEd && !sameContent(r, l)) n.content = "remote";
          else if (lEd && !rEd && !sameContent(r, l)) n.content = "local";
        }
      } else if (r && base) {
        n.deletedSide = "local";
        n.selfChanged = remoteMoved(base, r) || remoteEdited(base, r);
        n.want = { ...n.rPos! };
        n.wantFrom = "remote";
        n.reason = n.selfChanged ? "changed remotely, deleted locally: the change wins" : "local delete";
      } else if (l && base) {
        n.deletedSide = "remote";
        n.selfChanged = localMoved(base, l, synced) || localEdited(base, l);
        n.want = { ...n.lPos! };
        n.wantFrom = "local";
        n.reason = n.selfChanged ? "changed locally, deleted remotely: the change wins" : "remote delete";
      }
      return;
    }
    case "split":
      n.selfChanged = localMoved(base!, n.loc!, synced) || localEdited(base!, n.loc!);
      n.want = { ...n.lPos! };
      n.wantFrom = "local";
      n.reason = n.selfChanged ? "local changes in a folder excluded from sync" : "excluded from sync";
      return;
    case "remoteNew":
      n.want = { ...n.rPos! };
      n.wantFrom = "remote";
      n.reason = "new remote item";
      return;
    case "localNew":
      n.want = { ...n.lPos! };
      n.wantFrom = "local";
      n.reason = "new local item";
      return;
    default:
      return;
  }
}

/** Edit/edit with different contents: the remote version keeps the name, the local one becomes a conflicted copy. */
function splitConflict(ctx: Ctx, n: MNode): void {
  ctx.invented = true;
  const l = n.loc!;
  const name = conflictName(n.want!.name, "file", { kind: "conflict", device: ctx.opts.device, date: ctx.opts.date });
  const copy: MNode = {
    key: "c:" + l.id,
    kind: "copy",
    type: "file",
    loc: l,
    lPos: n.lPos,
    fixed: false,
    transient: false,
    disposable: false,
    selfChanged: false,
    want: { parent: n.want!.parent, name },
    wantFrom: "local",
    alive: true,
    reason: "edited on both sides: local version kept as a conflicted copy",
  };
  ctx.nodes.set(copy.key, copy);
  n.loc = undefined;
  n.lPos = undefined;
  n.reason = "edited on both sides: remote version keeps the name";
}

/** Parents of a node in the graph survival walks: its wanted parent, or for fixed nodes where it is. */
function parentsFor(ctx: Ctx, n: MNode): string[] {
  if (n.kind === "root") return [];
  if (n.fixed) {
    const out: string[] = [];
    if (n.rPos) out.push(resolve(ctx, n.rPos.parent));
    if (n.lPos && !out.includes(resolve(ctx, n.lPos.parent))) out.push(resolve(ctx, n.lPos.parent));
    return out;
  }
  return n.want ? [resolve(ctx, n.want.parent)] : [];
}

function fixCycles(ctx: Ctx): void {
  // Remote wants alone form the remote tree, which has no cycle: a cycle needs a local move
  // of an item the remote side also has, so walks start from those only.
  const starts = [...ctx.nodes.values()].filter((n) => n.wantFrom === "local" && n.rem && n.want);
  for (let round = 0; round <= starts.length; round++) {
    const state = new Map<string, 1 | 2>();
    let cycle: MNode[] | null = null;
    for (const start of starts) {
      if (state.has(start.key) || start.fixed || !start.want) continue;
      const chain: MNode[] = [];
      let cur: MNode | undefined = start;
      while (cur && !cur.fixed && cur.want && cur.kind !== "root") {
        const st = state.get(cur.key);
        if (st === 2) break;
        if (st === 1) {
          cycle = chain.slice(chain.indexOf(cur));
          break;
        }
        state.set(cur.key, 1);
        chain.push(cur);
        cur = ctx.nodes.get(resolve(ctx, cur.want.parent));
      }
      for (const c of chain) state.set(c.key, 2);
      if (cycle) break;
    }
    if (!cycle) return;
    const yielders = cycle.filter((c) => c.wantFrom === "local" && c.rem && c.rPos);
    if (yielders.length === 0)
      throw new Error(`planner: cycle without a local move: ${cycle.map((c) => c.key).join(" → ")}`);
    for (const y of yielders) {
      y.want = { ...y.rPos! };
      y.wantFrom = "remote";
      y.reason = "local move would put a folder inside itself: remote wins";
    }
  }
}

function computeSurvival(ctx: Ctx): void {
  const alive = new Set<string>();
  const pending: MNode[] = [];
  for (const n of ctx.nodes.values()) {
    const self = n.kind === "root" || n.fixed || !n.deletedSide || n.selfChanged;
    if (self) alive.add(n.key);
    if (self && !n.disposable) pending.push(n);
  }
  // Anything alive keeps the folders it needs alive, up to the root.
  while (pending.length > 0) {
    const n = pending.pop()!;
    for (const p of parentsFor(ctx, n)) {
      if (alive.has(p)) continue;
      alive.add(p);
      const pn = ctx.nodes.get(p);
      if (pn) {
        if (pn.deletedSide && !pn.selfChanged)
          pn.reason =
            pn.deletedSide === "remote"
              ? "deleted remotely but holds items that stay: re-created"
              : "deleted locally but holds items that stay: re-created";
        pending.push(pn);
      }
    }
  }
  for (const n of ctx.nodes.values()) {
    n.alive = alive.has(n.key);
    if (n.kind === "root" || n.fixed) continue;
    if (!n.alive) {
      n.want = undefined;
      n.wantR = null;
      n.wantL = null;
    } else {
      n.wantR = n.want ?? null;
      n.wantL = n.want ?? null;
    }
  }
}

/** A path as the local disk tells paths apart (case folded where it folds case). */
function localPathKey(ctx: Ctx, path: string): string {
  return path
    .split("/")
    .map((seg) => sideKey(ctx, "local", seg))
    .join("/");
}

function sideKey(ctx: Ctx, side: Side, name: string): string {
  // The server keeps names NFC and case-sensitive; the local disk may fold case.
  return side === "remote" ? nfc(name) : nameKey(name, ctx.ci);
}

function rank(n: MNode): number {
  if (n.fixed) return 4;
  if (n.kind === "copy") return 0;
  if (n.wantFrom === "both" && !n.deletedSide) return 3;
  return n.wantFrom === "remote" ? 2 : 1;
}

function resolveCollisions(ctx: Ctx): void {
  // Children by wanted parent, on either side.
  const kids = new Map<string, Set<string>>();
  const addKid = (parent: string, key: string) => {
    let s = kids.get(parent);
    if (!s) kids.set(parent, (s = new Set()));
    s.add(key);
  };
  for (const n of ctx.nodes.values()) {
    if (n.wantR) addKid(n.wantR.parent, n.key);
    if (n.wantL && n.wantL !== n.wantR) addKid(n.wantL.parent, n.key);
  }
  const queue = [ctx.rootKey];
  const seen = new Set<string>();
  for (let qi = 0; qi < queue.length; qi++) {
    const p = queue[qi]!;
    if (seen.has(p)) continue;
    seen.add(p);
    // Names on each side are unique today: only an item arriving at a name can collide.
    let arrivals = false;
    for (const k of kids.get(p) ?? []) {
      const n = ctx.nodes.get(k);
      if (n && (arrives(ctx, n.rPos, n.wantR) || arrives(ctx, n.lPos, n.wantL))) {
        arrivals = true;
        break;
      }
    }
    for (const side of arrivals ? (["remote", "local"] as const) : []) {
      const groups = new Map<string, MNode[]>();
      for (const k of kids.get(p) ?? []) {
        const n = ctx.nodes.get(k);
        const w = n ? (side === "remote" ? n.wantR : n.wantL) : undefined;
        if (!n || !w || resolve(ctx, w.parent) !== p) continue;
        const key = sideKey(ctx, side, w.name);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(n);
      }
      for (const g of groups.values()) if (g.length > 1) resolveGroup(ctx, side, p, g, kids);
    }
    for (const k of kids.get(p) ?? []) {
      const n = ctx.nodes.get(k);
      if (n && n.type === "folder") queue.push(k);
    }
  }
}

function arrives(ctx: Ctx, cur: Pos | undefined, want: Pos | null | undefined): boolean {
  return !!want && !samePos(ctx, cur, want);
}

function resolveGroup(ctx: Ctx, side: Side, parent: string, group: MNode[], kids: Map<string, Set<string>>): void {
  // Created on both sides under one name: the same folder, or the same file content, is one item.
  for (const l of group.filter((n) => n.kind === "localNew" && !n.fixed && n.alive)) {
    const r = group.find(
      (n) =>
        n.kind === "remoteNew" && !n.loc && n.type === l.type && (n.type === "folder" || sameContent(n.rem, l.loc)),
    );
    if (!r) continue;
    r.loc = l.loc;
    r.lPos = l.lPos;
    r.reason = n2reason(r.type);
    ctx.nodes.delete(l.key);
    ctx.alias.set(l.key, r.key);
    const moved = kids.get(l.key);
    if (moved) {
      for (const k of moved) {
        let s = kids.get(r.key);
        if (!s) kids.set(r.key, (s = new Set()));
        s.add(k);
      }
      kids.delete(l.key);
    }
    group.splice(group.indexOf(l), 1);
  }
  if (group.length < 2) return;
  const ordered = [...group].sort((a, b) => rank(b) - rank(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const winner = ordered[0]!;
  const wName = (side === "remote" ? winner.wantR : winner.wantL)!.name;
  for (const loser of ordered.slice(1)) {
    if (loser.fixed) continue; // both already exist side by side; nothing to change
    if (winner.fixed && winner.transient) {
      // Someone is still writing the file that holds the name: wait instead of renaming.
      const w0 = (side === "remote" ? loser.wantR : loser.wantL)!;
      const cur = side === "remote" ? loser.rPos : loser.lPos;
      if (side === "remote") loser.wantR = cur ? { ...cur } : null;
      else loser.wantL = cur ? { ...cur } : null;
      ctx.waiting.push({ side, path: describePos(ctx, w0), reason: "name taken by a file being written" });
      continue;
    }
    const w = loser.want!;
    const kind: ConflictKind = winner.excludedOccupant
      ? "selective"
      : wName === w.name
        ? "conflict"
        : sameName(wName, w.name)
          ? "unicode"
          : "case";
    const taken = (name: string): boolean => nameTaken(ctx, parent, name, loser, kids);
    const original = w.name;
    ctx.invented = true;
    w.name = uniqueName(
      (i) => conflictName(original, loser.type, { kind, device: ctx.opts.device, date: ctx.opts.date }, i),
      taken,
    );
    loser.reason = `${loser.reason}; renamed (${kind}) because "${wName}" is taken`;
  }
}

/** "/a/b" from wanted positions, for reports. */
function describePos(ctx: Ctx, pos: Pos): string {
  const names = [pos.name];
  let key = resolve(ctx, pos.parent);
  for (let guard = 0; key !== ctx.rootKey && guard < ctx.nodes.size; guard++) {
    const n = ctx.nodes.get(key);
    const p = n?.want ?? n?.rPos ?? n?.lPos;
    if (!p) break;
    names.push(p.name);
    key = resolve(ctx, p.parent);
  }
  return "/" + names.reverse().join("/");
}

function n2reason(type: NodeType): string {
  return type === "folder" ? "folder created on both sides: merged" : "same file created on both sides: linked";
}

/** Whether another item holds or wants `name` in `parent` on either side. */
function nameTaken(ctx: Ctx, parent: string, name: string, self: MNode, kids: Map<string, Set<string>>): boolean {
  const kr = sideKey(ctx, "remote", name);
  const kl = sideKey(ctx, "local", name);
  const clash = (pos: Pos | null | undefined, side: Side) =>
    !!pos &&
    resolve(ctx, pos.parent) === parent &&
    (side === "remote" ? sideKey(ctx, "remote", pos.name) === kr : sideKey(ctx, "local", pos.name) === kl);
  // Items wanting a place here, and items there today (built once, only when a name clashes).
  if (!ctx.occupants) {
    ctx.occupants = new Map();
    for (const n of ctx.nodes.values()) {
      for (const pos of [n.rPos, n.lPos]) {
        if (!pos) continue;
        const p = resolve(ctx, pos.parent);
        let s = ctx.occupants.get(p);
        if (!s) ctx.occupants.set(p, (s = new Set()));
        s.add(n.key);
      }
    }
  }
  for (const k of new Set([...(kids.get(parent) ?? []), ...(ctx.occupants.get(parent) ?? [])])) {
    const n = ctx.nodes.get(k);
    if (!n || n === self) continue;
    if (clash(n.wantR, "remote") || clash(n.rPos, "remote") || clash(n.wantL, "local") || clash(n.lPos, "local"))
      return true;
  }
  return false;
}

// --- 8. sequencing ----------------------------------------------------------------------

/** One side's tree as the plan unfolds, keyed by merged keys. */
class SideSim {
  readonly parent = new Map<string, string | null>();
  readonly name = new Map<string, string>();
  // Holders of each name key per folder: one key, or several while names collide.
  readonly kids = new Map<string, Map<string, string | string[]>>();
  private readonly keyOf: (name: string) => string;

  constructor(keyOf: (name: string) => string) {
    this.keyOf = keyOf;
  }

  has(k: string): boolean {
    return this.parent.has(k);
  }

  add(k: string, parent: string | null, name: string): void {
    this.parent.set(k, parent);
    this.name.set(k, name);
    if (parent !== null) {
      let m = this.kids.get(parent);
      if (!m) this.kids.set(parent, (m = new Map()));
      const nk = this.keyOf(name);
      const h = m.get(nk);
      if (h === undefined) m.set(nk, k);
      else if (typeof h === "string") m.set(nk, [h, k]);
      else h.push(k);
    }
  }

  remove(k: string): void {
    const p = this.parent.get(k);
    const nm = this.name.get(k);
    if (p !== undefined && p !== null && nm !== undefined) {
      const m = this.kids.get(p);
      const nk = this.keyOf(nm);
      const h = m?.get(nk);
      if (h === k) m!.delete(nk);
      else if (Array.isArray(h)) {
        const rest = h.filter((x) => x !== k);
        m!.set(nk, rest.length === 1 ? rest[0]! : rest);
      }
    }
    this.parent.delete(k);
    this.name.delete(k);
  }

  move(k: string, parent: string, name: string): void {
    this.remove(k);
    this.add(k, parent, name);
  }

  /** Who holds this name in the folder, other than `self`. */
  holder(parent: string, name: string, self: string): string | undefined {
    const h = this.kids.get(parent)?.get(this.keyOf(name));
    if (h === undefined) return undefined;
    if (typeof h === "string") return h === self ? undefined : h;
    return h.find((k) => k !== self);
  }

  childCount(k: string): number {
    let c = 0;
    for (const h of this.kids.get(k)?.values() ?? []) c += typeof h === "string" ? 1 : h.length;
    return c;
  }

  /** Whether `a` is `b` or one of its ancestors. */
  isAncestorOrSelf(a: string, b: string): boolean {
    for (let cur: string | null | undefined = b; cur !== null && cur !== undefined; cur = this.parent.get(cur))
      if (cur === a) return true;
    return false;
  }

  path(k: string): string {
    const names: string[] = [];
    for (let cur: string | null | undefined = k; cur !== null && cur !== undefined; cur = this.parent.get(cur)) {
      if (this.parent.get(cur) === null) break;
      names.push(this.name.get(cur)!);
    }
    return "/" + names.reverse().join("/");
  }
}

type TaskKind =
  "unlink" | "moveR" | "moveL" | "createR" | "createL" | "upload" | "download" | "link" | "deleteR" | "deleteL";

interface Task {
  kind: TaskKind;
  node: MNode;
  done: boolean;
  record?: SyncedNode;
}

const PHASE: Record<TaskKind, number> = {
  unlink: 0,
  moveR: 1,
  moveL: 1,
  createR: 2,
  createL: 2,
  link: 3,
  deleteR: 4,
  deleteL: 4,
  upload: 5,
  download: 5,
};

function samePos(ctx: Ctx, a: Pos | undefined, b: Pos | null | undefined): boolean {
  return !!a && !!b && resolve(ctx, a.parent) === resolve(ctx, b.parent) && sameName(a.name, b.name);
}

function needsLink(n: MNode): boolean {
  const r = n.rem!;
  const l = n.loc!;
  const b = n.base;
  const idLinked = !!b && b.id === r.id && b.localId === l.id;
  // Content not known to be equal (no remote hash): only a known pair that neither side edited.
  if (n.type === "file" && !sameContent(r, l) && (!idLinked || remoteEdited(b!, r) || localEdited(b!, l))) return false;
  if (!b || !idLinked) return true;
  if (b.name !== r.name || b.parentId !== r.parentId) return true;
  return (
    n.type === "file" && ((r.contentHash !== undefined && b.contentHash !== r.contentHash) || b.version !== r.version)
  );
}

function sequence(ctx: Ctx, unlinks: SyncedNode[]): Operation[] {
  const tasks: Task[] = [];
  const add = (kind: TaskKind, node: MNode, record?: SyncedNode) => tasks.push({ kind, node, done: false, record });
  for (const s of unlinks) add("unlink", ctx.nodes.get(ctx.rootKey)!, s);
  for (const n of ctx.nodes.values()) {
    if (n.kind === "root") continue;
    if (n.fixed) {
      // Junk left in a folder that is going away goes with it.
      if (n.disposable) {
        if (n.rem && n.rPos && !ctx.nodes.get(resolve(ctx, n.rPos.parent))?.alive) add("deleteR", n);
        if (n.loc && n.lPos && !ctx.nodes.get(resolve(ctx, n.lPos.parent))?.alive) add("deleteL", n);
      }
      continue;
    }
    if (!n.alive) {
      if (n.rem) add("deleteR", n);
      if (n.loc) add("deleteL", n);
      continue;
    }
    const before = tasks.length;
    if (n.rem && n.wantR && !samePos(ctx, n.rPos, n.wantR)) add("moveR", n);
    if (!n.rem && n.wantR) add("createR", n);
    if (n.loc && n.wantL && !samePos(ctx, n.lPos, n.wantL)) add("moveL", n);
    if (!n.loc && n.wantL) add("createL", n);
    if (n.rem && n.loc && n.content === "local") add("upload", n);
    if (n.rem && n.loc && n.content === "remote") add("download", n);
    if (n.rem && n.loc) {
      const idLinked = n.base && n.base.id === n.rem.id && n.base.localId === n.loc.id;
      // A new pair is linked even while it still needs a rename; a known one only once all is done.
      if ((!idLinked || tasks.length === before) && needsLink(n)) add("link", n);
    }
  }
  if (tasks.length === 0) return [];
  tasks.sort((a, b) => PHASE[a.kind] - PHASE[b.kind]);

  // Both sides as they will be while the plan runs, to check each step and compute its paths.
  const simR = new SideSim((n) => sideKey(ctx, "remote", n));
  const simL = new SideSim((n) => sideKey(ctx, "local", n));
  simR.add(ctx.rootKey, null, "");
  simL.add(ctx.rootKey, null, "");
  for (const n of ctx.nodes.values()) {
    if (n.kind === "root") continue;
    if (n.rem && n.rPos) simR.add(n.key, resolve(ctx, n.rPos.parent), n.rem.name);
    if (n.loc && n.lPos) simL.add(n.key, resolve(ctx, n.lPos.parent), n.loc.name);
  }
  const linked = new Set<string>([ctx.rootKey]);
  for (const n of ctx.nodes.values())
    if (n.base && n.rem && n.loc && n.base.id === n.rem.id && n.base.localId === n.loc.id) linked.add(n.key);

  const ops: Operation[] = [];
  const isLinked = (k: string) => linked.has(resolve(ctx, k));
  // Pending task kinds per node, so readiness checks stay O(1).
  const open = new Map<string, Set<TaskKind>>();
  for (const t of tasks) {
    let k = open.get(t.node.key);
    if (!k) open.set(t.node.key, (k = new Set()));
    k.add(t.kind);
  }
  const pendingMove = (key: string, side: Side) => open.get(key)?.has(side === "remote" ? "moveR" : "moveL") ?? false;

  const pendingDelete = (key: string, side: Side) =>
    open.get(key)?.has(side === "remote" ? "deleteR" : "deleteL") ?? false;

  /** Whether `key` is at `path` on the local side (names compared as the local disk does). */
  const sameLocalPath = (key: string, path: string): boolean =>
    simL.has(key) && localPathKey(ctx, simL.path(key)) === localPathKey(ctx, path);

  const blockedBy = (t: Task): { sim: SideSim; holder: string } | null => {
    const n = t.node;
    const remoteSide = t.kind === "moveR" || t.kind === "createR";
    const sim = remoteSide ? simR : simL;
    const w = remoteSide ? n.wantR : n.wantL;
    if (!w) return null;
    const h = sim.holder(resolve(ctx, w.parent), w.name, n.key);
    return h ? { sim, holder: h } : null;
  };

  const ready = (t: Task): boolean => {
    const n = t.node;
    switch (t.kind) {
      case "unlink":
        return true;
      case "upload":
      case "download":
        // A download replaces the file (new local identity): moves of it must come first.
        if (pendingMove(n.key, "remote") || pendingMove(n.key, "local")) return false;
        // An upload reads the local file at the path it writes remotely: every move on the way
        // there, its folders' included, must be done first.
        return t.kind === "download" || sameLocalPath(n.key, simR.path(n.key));
      case "link":
        return isLinked(n.want!.parent);
      case "moveR":
      case "moveL":
      case "createR":
      case "createL": {
        const remoteSide = t.kind === "moveR" || t.kind === "createR";
        const sim = remoteSide ? simR : simL;
        const w = (remoteSide ? n.wantR : n.wantL)!;
        const p = resolve(ctx, w.parent);
        if (!sim.has(p) || !isLinked(p)) return false;
        if (sim.holder(p, w.name, n.key) !== undefined) return false;
        if ((t.kind === "moveR" || t.kind === "moveL") && sim.isAncestorOrSelf(n.key, p)) return false;
        // The other side first reaches its final place, so the new link records agreement.
        if (t.kind === "createR" && pendingMove(n.key, "local")) return false;
        // Creating remotely reads the local item at the new remote path (as an upload does).
        if (t.kind === "createR" && !sameLocalPath(n.key, joinPath(sim.path(p), w.name))) return false;
        if (t.kind === "createL" && pendingMove(n.key, "remote")) return false;
        return true;
      }
      case "deleteR":
        return simR.childCount(n.key) === 0;
      case "deleteL":
        return simL.childCount(n.key) === 0;
    }
  };

  /** Moves `key` to its wanted place on one side; the paths before and after, for the op. */
  const moveTo = (sim: SideSim, key: string, want: Pos): { from: string; to: string } => {
    const from = sim.path(key);
    sim.move(key, resolve(ctx, want.parent), want.name);
    return { from, to: sim.path(key) };
  };

  const emit = (t: Task): void => {
    const n = t.node;
    t.done = true;
    if (t.kind !== "unlink") open.get(n.key)?.delete(t.kind);
    switch (t.kind) {
      case "unlink":
        ops.push({ kind: "unlink", remoteId: t.record!.id, reason: "gone on both sides" });
        return;
      case "moveR":
        ops.push({
          kind: "moveRemote",
          remoteId: n.rem!.id,
          localId: n.loc && isLinked(n.key) ? n.loc.id : null,
          ...moveTo(simR, n.key, n.wantR!),
          reason: n.reason || "move",
        });
        return;
      case "moveL":
        ops.push({
          kind: "moveLocal",
          localId: n.loc!.id,
          remoteId: n.rem && isLinked(n.key) ? n.rem.id : null,
          ...moveTo(simL, n.key, n.wantL!),
          reason: n.reason || "move",
        });
        return;
      case "createR": {
        simR.add(n.key, resolve(ctx, n.wantR!.parent), n.wantR!.name);
        const path = simR.path(n.key);
        const l = n.loc!;
        if (n.type === "folder") ops.push({ kind: "mkdirRemote", path, localId: l.id, reason: n.reason });
        else
          ops.push({
            kind: "upload",
            path,
            localId: l.id,
            remoteId: null,
            baseVersion: null,
            expectedHash: l.contentHash!,
            reason: n.reason,
          });
        linked.add(n.key);
        return;
      }
      case "createL": {
        simL.add(n.key, resolve(ctx, n.wantL!.parent), n.wantL!.name);
        const path = simL.path(n.key);
        const r = n.rem!;
        if (n.type === "folder") ops.push({ kind: "mkdirLocal", path, remoteId: r.id, reason: n.reason });
        else
          ops.push({
            kind: "download",
            path,
            remoteId: r.id,
            version: r.version ?? 0,
            contentHash: r.contentHash,
            localId: null,
            expectedLocalHash: null,
            reason: n.reason,
          });
        linked.add(n.key);
        return;
      }
      case "upload": {
        const r = n.rem!;
        const l = n.loc!;
        if (n.base && r.version !== n.base.version)
          throw new Error(`planner: upload over an unseen remote version of ${r.id}`);
        ops.push({
          kind: "upload",
          path: simR.path(n.key),
          localId: l.id,
          remoteId: r.id,
          baseVersion: r.version ?? null,
          expectedHash: l.contentHash!,
          reason: "local edit",
        });
        return;
      }
      case "download": {
        const r = n.rem!;
        const l = n.loc!;
        if (!n.base || l.contentHash !== n.base.contentHash)
          throw new Error(`planner: download over unsynced local content of ${l.id}`);
        ops.push({
          kind: "download",
          path: simL.path(n.key),
          remoteId: r.id,
          version: r.version ?? 0,
          contentHash: r.contentHash,
          localId: l.id,
          expectedLocalHash: l.contentHash ?? null,
          reason: "remote edit",
        });
        return;
      }
      case "link":
        ops.push({
          kind: "link",
          remoteId: n.rem!.id,
          localId: n.loc!.id,
          expectedHash: n.type === "file" && sameContent(n.rem, n.loc) ? (n.loc!.contentHash ?? null) : null,
          reason: n.reason || "both sides agree",
        });
        linked.add(n.key);
        return;
      case "deleteR": {
        const r = n.rem!;
        if (!n.disposable && r.type === "file" && !(n.base && !remoteEdited(n.base, r)))
          throw new Error(`planner: remote delete of changed content ${r.id}`);
        const path = simR.path(n.key);
        simR.remove(n.key);
        ops.push({
          kind: "deleteRemote",
          path,
          remoteId: r.id,
          type: r.type,
          expectedVersion: r.type === "file" ? (r.version ?? null) : null,
          recursive: n.kind === "occupant",
          reason: n.disposable ? "junk in a deleted folder" : n.reason || "local delete",
        });
        return;
      }
      case "deleteL": {
        const l = n.loc!;
        if (!n.disposable && l.type === "file" && !(n.base && l.contentHash === n.base.contentHash))
          throw new Error(`planner: local delete of changed content ${l.id}`);
        const path = simL.path(n.key);
        simL.remove(n.key);
        ops.push({
          kind: "deleteLocal",
          path,
          localId: l.id,
          type: l.type,
          expectedHash: l.type === "file" ? (l.contentHash ?? null) : null,
          reason: n.disposable ? "junk in a deleted folder" : n.reason || "remote delete",
        });
        return;
      }
    }
  };

  let pending = tasks.length;
  let temps = 0;
  while (pending > 0) {
    let progress = false;
    for (const t of tasks) {
      if (t.done || !ready(t)) continue;
      emit(t);
      pending--;
      progress = true;
    }
    if (progress) continue;
    // Stuck: a swap (a → b while b → a), or an item moving onto the name of the folder it is
    // leaving, which can only be deleted once empty. Park the holder under a temporary name.
    let parked = false;
    for (const t of tasks) {
      if (t.done || !(t.kind === "moveR" || t.kind === "moveL" || t.kind === "createR" || t.kind === "createL"))
        continue;
      const b = blockedBy(t);
      if (!b) continue;
      const side: Side = b.sim === simR ? "remote" : "local";
      const h = ctx.nodes.get(b.holder);
      // A holder that is leaving anyway (moving on, or going away once its children left).
      if (!h || !(pendingMove(h.key, side) || pendingDelete(h.key, side))) continue;
      const hp = b.sim.parent.get(h.key)!;
      const hName = b.sim.name.get(h.key)!;
      const tmp = uniqueName(
        (i) => `${hName} (cumulus swap${i > 1 ? ` ${i}` : ""})`,
        (nm) => b.sim.holder(hp, nm, h.key) !== undefined,
      );
      const from = b.sim.path(h.key);
      b.sim.move(h.key, hp, tmp);
      if (side === "remote")
        ops.push({
          kind: "moveRemote",
          remoteId: h.rem!.id,
          localId: null,
          from,
          to: b.sim.path(h.key),
          reason: "temporary name to free a name",
        });
      else
        ops.push({
          kind: "moveLocal",
          localId: h.loc!.id,
          remoteId: null,
          from,
          to: b.sim.path(h.key),
          reason: "temporary name to free a name",
        });
      parked = true;
      temps++;
      break;
    }
    if (!parked || temps > tasks.length) break;
  }
  for (const t of tasks) {
    if (t.done) continue;
    const n = t.node;
    const side: Side = t.kind.endsWith("R") || t.kind === "upload" ? "remote" : "local";
    const path =
      side === "remote"
        ? n.rem && simR.has(n.key)
          ? simR.path(n.key)
          : joinPath("…", n.want?.name ?? "")
        : n.loc && simL.has(n.key)
          ? simL.path(n.key)
          : joinPath("…", n.want?.name ?? "");
    ctx.waiting.push({ side, path, reason: `blocked (${t.kind})` });
  }
  return ops;
}
