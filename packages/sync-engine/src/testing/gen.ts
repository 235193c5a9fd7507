import { isJunk } from "../ignore.ts";
import type { LocalNode, RemoteNode } from "../model.ts";
import { createRng } from "./prng.ts";
import type { SimWorld } from "./world.ts";

/**
 * Random states and edits for CanopyCheck-style tests. An edit names its targets by random
 * numbers resolved against the tree when it is applied (index modulo the current items), so
 * any subset of a failing edit list is still a valid scenario: that is what lets the
 * shrinker drop edits freely.
 */

export type EditKind =
  | "createFile"
  | "createFolder"
  | "edit"
  | "replace"
  | "delete"
  | "move"
  | "rename"
  | "writeUnstable"
  /** Exchange the names of two siblings (three renames through a temporary name). */
  | "swap"
  /** Move a folder into another folder (with the other side doing the same: cycles). */
  | "moveFolder"
  /** The same new name on both sides at once: same folder, same or different file content. */
  | "twinCreate"
  /** Folder A into folder B on the server while B goes into A on this computer. */
  | "crossMove"
  /** Finder litter in a folder of this computer. */
  | "dropJunk";

export interface Edit {
  side: "remote" | "local";
  kind: EditKind;
  a: number;
  b: number;
  c: number;
  /** Applied during sync (round, before operation index) instead of before it. */
  at?: { round: number; op: number } | undefined;
}

export interface CaseSpec {
  seed: number;
  caseInsensitive: boolean;
  /** Exclude one initial remote folder from sync (selective sync). */
  exclude: boolean;
  /** Items in the common starting tree. */
  initialSize: number;
  /** Simulate crashes: the first rounds stop after a random number of operations. */
  crash: boolean;
  /** The planner knows remote content hashes (false: versions only). */
  remoteHashes: boolean;
  edits: Edit[];
}

/** Small name pool so collisions (exact, case, NFC/NFD) are frequent. */
export const NAMES: readonly string[] = ["a", "b", "A", "c.txt", "C.txt", "\u00e9", "e\u0301", "d.md", "sub", "Sub"];
/** Ignored names that still hold content worth keeping. */
export const IGNORED_NAMES: readonly string[] = ["x.tmp", "~$lock.docx"];
export const JUNK = ".DS_Store";

const KINDS: readonly EditKind[] = [
  "createFile",
  "createFile",
  "createFolder",
  "edit",
  "edit",
  "replace",
  "delete",
  "move",
  "rename",
  "rename",
  "writeUnstable",
  "swap",
  "moveFolder",
  "twinCreate",
  "crossMove",
  "dropJunk",
];

export function genCase(seed: number, maxEdits: number): CaseSpec {
  const rng = createRng(seed);
  const spec: CaseSpec = {
    seed,
    caseInsensitive: rng.chance(0.5),
    exclude: rng.chance(0.3),
    initialSize: rng.int(10),
    crash: rng.chance(0.2),
    remoteHashes: rng.chance(0.8),
    edits: [],
  };
  const concurrent = rng.chance(0.25);
  const n = 1 + rng.int(Math.max(1, maxEdits));
  for (let i = 0; i < n; i++) {
    const e: Edit = {
      side: rng.chance(0.5) ? "remote" : "local",
      kind: rng.pick(KINDS),
      a: rng.u32(),
      b: rng.u32(),
      c: rng.u32(),
    };
    if (concurrent && rng.chance(0.3)) e.at = { round: 1 + rng.int(2), op: rng.int(6) };
    spec.edits.push(e);
  }
  return spec;
}

/** Which contents were ever written, and which of them a person deliberately destroyed. */
export class Ledger {
  readonly written = new Set<string>();
  readonly killed = new Set<string>();
  private next = 1;

  fresh(): string {
    const t = `t${this.next++}`;
    this.written.add(t);
    return t;
  }

  kill(content: string | undefined): void {
    if (content !== undefined && this.written.has(content)) this.killed.add(content);
  }
}

/** Builds the common starting tree on both sides, linked in the synced tree. */
export function buildInitial(world: SimWorld, spec: CaseSpec, ledger: Ledger): string | undefined {
  const rng = createRng(spec.seed ^ 0x1517);
  const folders = ["/"];
  const spec2: Record<string, string | null> = {};
  const used = new Set<string>();
  for (let i = 0; i < spec.initialSize; i++) {
    const parent = rng.pick(folders);
    const name = rng.pick(NAMES);
    const path = parent === "/" ? "/" + name : parent + "/" + name;
    // Keep the start collision-free on every file system.
    const key = path.normalize("NFC").toLowerCase();
    if (used.has(key)) continue;
    used.add(key);
    const folder = rng.chance(0.4);
    spec2[path] = folder ? null : ledger.fresh();
    if (folder) folders.push(path);
  }
  world.seed(spec2);
  if (spec.exclude && folders.length > 1) {
    const path = folders[1 + rng.int(folders.length - 1)]!;
    const r = world.server.resolve(path)!;
    const l = world.disk.resolve(path)!;
    // The device never had it: drop the local copy and its records.
    for (const id of [...world.synced.keys()]) if (isInside(world.server.nodes, id, r.id)) world.synced.delete(id);
    world.disk.remove(l.id);
    return r.id;
  }
  return undefined;
}

function pathOfNode(nodes: ReadonlyMap<string, RemoteNode>, id: string): string {
  const names: string[] = [];
  for (let cur = nodes.get(id); cur && cur.parentId !== null; cur = nodes.get(cur.parentId)) names.push(cur.name);
  return "/" + names.reverse().join("/");
}

function isInside(nodes: ReadonlyMap<string, RemoteNode>, id: string, ancestor: string): boolean {
  for (let cur: string | null | undefined = id; cur; cur = nodes.get(cur)?.parentId) if (cur === ancestor) return true;
  return false;
}

/** Junk never holds tracked content: the planner may delete it with its folder by design. */
function contentOf(name: string, ledger: Ledger): string {
  return isJunk(name) ? "junk" : ledger.fresh();
}

/** Applies one edit as a person would; edits that make no sense in the current state do nothing. */
export function applyEdit(world: SimWorld, e: Edit, ledger: Ledger): void {
  const remote = e.side === "remote";
  const nodes: (RemoteNode | LocalNode)[] = [...(remote ? world.server.nodes : world.disk.nodes).values()];
  const items = nodes.filter((n) => n.parentId !== null);
  const folders = nodes.filter((n) => n.type === "folder");
  const files = items.filter((n) => n.type === "file");
  const pickName = (x: number, allowIgnored: boolean): string => {
    if (allowIgnored && x % 7 === 0) return IGNORED_NAMES[(x >>> 3) % IGNORED_NAMES.length]!;
    if (allowIgnored && x % 6 === 1) return JUNK;
    return NAMES[x % NAMES.length]!;
  };
  const taken = (parentId: string, name: string) =>
    remote
      ? world.server.childByName(parentId, name) !== undefined
      : world.disk.childByName(parentId, name) !== undefined;
  const inside = (id: string, ancestor: string) => {
    const map = remote ? world.server.nodes : world.disk.nodes;
    for (let cur: string | null | undefined = id; cur; cur = map.get(cur)?.parentId) if (cur === ancestor) return true;
    return false;
  };
  const subtreeContents = (id: string): (string | undefined)[] => {
    const map: ReadonlyMap<string, RemoteNode | LocalNode> = remote ? world.server.nodes : world.disk.nodes;
    const out: (string | undefined)[] = [];
    for (const n of map.values()) if (n.type === "file" && inside(n.id, id)) out.push(n.contentHash);
    return out;
  };

  switch (e.kind) {
    case "createFile":
    case "createFolder": {
      const parent = folders[e.a % folders.length]!;
      const name = pickName(e.b, e.kind === "createFile");
      if (taken(parent.id, name)) return;
      if (e.kind === "createFolder") {
        if (remote) world.server.create(parent.id, name, "folder");
        else world.disk.create(parent.id, name, "folder");
        return;
      }
      // Sometimes the same bytes as a file on the other side, to get identical creates.
      let content: string;
      const other = [...(remote ? world.disk.nodes : world.server.nodes).values()].filter(
        (n) => n.type === "file" && n.contentHash !== undefined && n.contentHash !== "junk",
      );
      if (!isJunk(name) && e.c % 3 === 0 && other.length > 0) content = other[(e.c >>> 2) % other.length]!.contentHash!;
      else content = contentOf(name, ledger);
      if (remote) world.server.create(parent.id, name, "file", content);
      else world.disk.create(parent.id, name, "file", content);
      return;
    }
    case "edit":
    case "replace":
    case "writeUnstable": {
      if (files.length === 0) return;
      const f = files[e.a % files.length]!;
      const content = contentOf(f.name, ledger);
      ledger.kill(f.contentHash);
      if (remote) world.server.edit(f.id, content);
      else if (e.kind === "replace") world.disk.replace(f.id, content);
      else world.disk.edit(f.id, content, e.kind === "writeUnstable");
      return;
    }
    case "delete": {
      if (items.length === 0) return;
      const n = items[e.a % items.length]!;
      for (const c of subtreeContents(n.id)) ledger.kill(c);
      if (remote) world.server.remove(n.id);
      else world.disk.remove(n.id);
      return;
    }
    case "swap": {
      if (items.length < 2) return;
      const x = items[e.a % items.length]!;
      const sibs = items.filter((n) => n.parentId === x.parentId && n.id !== x.id && !isJunk(n.name));
      if (sibs.length === 0 || isJunk(x.name)) return;
      const y = sibs[e.b % sibs.length]!;
      const tmp = "swap-tmp";
      if (taken(x.parentId!, tmp)) return;
      const mv = (id: string, name: string) =>
        remote ? world.server.move(id, x.parentId!, name) : world.disk.move(id, x.parentId!, name);
      const [xn, yn] = [x.name, y.name];
      mv(x.id, tmp);
      mv(y.id, xn);
      mv(x.id, yn);
      return;
    }
    case "moveFolder": {
      const movable = folders.filter((f) => f.parentId !== null);
      if (movable.length === 0) return;
      const f = movable[e.a % movable.length]!;
      const target = folders[e.b % folders.length]!;
      if (inside(target.id, f.id) || taken(target.id, f.name)) return;
      if (remote) world.server.move(f.id, target.id, f.name);
      else world.disk.move(f.id, target.id, f.name);
      return;
    }
    case "twinCreate": {
      const rFolders = [...world.server.nodes.values()].filter((n) => n.type === "folder");
      const rParent = rFolders[e.a % rFolders.length]!;
      const path = pathOfNode(world.server.nodes, rParent.id);
      const lParent = world.disk.resolve(path);
      if (!lParent || lParent.type !== "folder") return;
      const name = pickName(e.b, false);
      if (world.server.childByName(rParent.id, name) || world.disk.childByName(lParent.id, name)) return;
      if (e.c % 3 === 0) {
        world.server.create(rParent.id, name, "folder");
        world.disk.create(lParent.id, name, "folder");
        return;
      }
      const c1 = ledger.fresh();
      const c2 = e.c % 3 === 1 ? c1 : ledger.fresh();
      world.server.create(rParent.id, name, "file", c1);
      world.disk.create(lParent.id, name, "file", c2);
      return;
    }
    case "crossMove": {
      const pairs = [...world.server.nodes.values()]
        .filter((n) => n.type === "folder" && n.parentId !== null)
        .map((n) => ({ r: n, l: world.disk.resolve(pathOfNode(world.server.nodes, n.id)) }))
        .filter((p): p is { r: RemoteNode; l: LocalNode } => !!p.l && p.l.type === "folder");
      if (pairs.length < 2) return;
      const a = pairs[e.a % pairs.length]!;
      const b = pairs[e.b % pairs.length]!;
      if (a === b) return;
      const rIn = (x: string, y: string) => isInside(world.server.nodes, x, y);
      if (!rIn(b.r.id, a.r.id) && !world.server.childByName(b.r.id, a.r.name))
        world.server.move(a.r.id, b.r.id, a.r.name);
      const lIn = (x: string, y: string) => {
        for (let cur: string | null | undefined = x; cur; cur = world.disk.nodes.get(cur)?.parentId)
          if (cur === y) return true;
        return false;
      };
      if (!lIn(a.l.id, b.l.id) && !world.disk.childByName(a.l.id, b.l.name)) world.disk.move(b.l.id, a.l.id, b.l.name);
      return;
    }
    case "dropJunk": {
      const dirs = [...world.disk.nodes.values()].filter((n) => n.type === "folder");
      const d = dirs[e.a % dirs.length]!;
      if (!world.disk.childByName(d.id, JUNK)) world.disk.create(d.id, JUNK, "file", "junk");
      return;
    }
    case "move":
    case "rename": {
      if (items.length === 0) return;
      const n = items[e.a % items.length]!;
      const target = e.kind === "move" ? folders[e.b % folders.length]! : undefined;
      const parentId = target ? target.id : n.parentId!;
      // Renames avoid junk names: renaming real content to .DS_Store would make it disposable.
      const name = e.kind === "rename" || e.c % 2 === 0 ? pickName(e.c, e.c % 5 === 0) : n.name;
      if (name === JUNK || isJunk(n.name)) return;
      if (inside(parentId, n.id)) return;
      const holder = remote ? world.server.childByName(parentId, name) : world.disk.childByName(parentId, name);
      if (holder && holder.id !== n.id) return;
      if (remote) world.server.move(n.id, parentId, name);
      else world.disk.move(n.id, parentId, name);
      return;
    }
  }
}

export function describeEdit(e: Edit): string {
  return `${e.side} ${e.kind} a=${e.a} b=${e.b} c=${e.c}${e.at ? ` @round ${e.at.round} op ${e.at.op}` : ""}`;
}
