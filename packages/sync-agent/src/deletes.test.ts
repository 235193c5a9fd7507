import { describe, expect, it } from "vitest";
import type { LocalNode, RemoteNode, SyncedNode } from "@cumulus/sync-engine/model";
import type { DeleteRemoteOp } from "@cumulus/sync-engine/operations";
import { plan } from "@cumulus/sync-engine/planner";
import { collapseFolderDeletes, independentDeletes } from "./deletes.ts";
import { IndexedTree } from "./tree.ts";

/**
 * Three agreeing trees of `/keep.txt` and `/f` holding `n` files and a subfolder `/f/g`
 * with two more; `gone` local ids are then deleted locally.
 */
function world(n: number) {
  const remote = new IndexedTree<RemoteNode>();
  const local = new IndexedTree<LocalNode>();
  const synced = new Map<string, SyncedNode>();
  const add = (id: string, parentId: string | null, name: string, type: "file" | "folder") => {
    const hash = type === "file" ? `h-${id}` : undefined;
    remote.set(id, { id, parentId, name, type, version: type === "file" ? 1 : undefined, contentHash: hash });
    local.set(`l-${id}`, { id: `l-${id}`, parentId: parentId && `l-${parentId}`, name, type, contentHash: hash });
    synced.set(id, {
      id,
      localId: `l-${id}`,
      parentId,
      name,
      type,
      contentHash: hash,
      version: type === "file" ? 1 : undefined,
    });
  };
  add("root", null, "", "folder");
  add("keep", "root", "keep.txt", "file");
  add("f", "root", "f", "folder");
  for (let i = 0; i < n; i++) add(`f${i}`, "f", `${i}.txt`, "file");
  add("g", "f", "g", "folder");
  add("g1", "g", "1.txt", "file");
  add("g2", "g", "2.txt", "file");
  return { remote, local, synced };
}

describe("collapseFolderDeletes", () => {
  it("turns the plan for `rm -r` of a folder into one recursive delete of it", () => {
    const w = world(300);
    w.local.removeSubtree("l-f");
    const ops = plan(w.remote, w.local, w.synced);
    expect(ops.filter((o) => o.kind === "deleteRemote")).toHaveLength(304);
    const out = collapseFolderDeletes(ops, w.remote, 7);
    expect(out).toEqual([
      expect.objectContaining({
        kind: "deleteRemote",
        remoteId: "f",
        path: "/f",
        type: "folder",
        recursive: true,
        unchangedSince: 7,
      }),
    ]);
  });

  it("keeps per-item deletes when something below the folder is not deleted by the plan", () => {
    const w = world(5);
    // Everything of /f/g is deleted, but /f/3.txt was moved out first: /f itself is not
    // deleted whole, /f/g is.
    w.local.removeSubtree("l-g");
    for (const i of [0, 1, 2, 4]) w.local.delete(`l-f${i}`);
    w.local.set("l-f3", { ...w.local.get("l-f3")!, parentId: "l-root", name: "3.txt" });
    w.local.delete("l-f");
    const ops = plan(w.remote, w.local, w.synced);
    const out = collapseFolderDeletes(ops, w.remote, 7);
    const deletes = out.filter((o): o is DeleteRemoteOp => o.kind === "deleteRemote");
    expect(deletes.map((d) => [d.path, d.recursive]).sort()).toEqual(
      [
        ["/f", false],
        ["/f/0.txt", false],
        ["/f/1.txt", false],
        ["/f/2.txt", false],
        ["/f/4.txt", false],
        ["/f/g", true],
      ].sort(),
    );
    // The move of 3.txt out of /f still comes before the delete of /f.
    const move = out.findIndex((o) => o.kind === "moveRemote");
    expect(move).toBeGreaterThanOrEqual(0);
    expect(move).toBeLessThan(out.findIndex((o) => o.kind === "deleteRemote" && o.path === "/f"));
  });

  it("changes nothing in a plan without folder deletes", () => {
    const w = world(3);
    w.local.delete("l-f1");
    w.local.delete("l-keep");
    const ops = plan(w.remote, w.local, w.synced);
    expect(collapseFolderDeletes(ops, w.remote, 7)).toEqual(ops);
  });
});

describe("independentDeletes", () => {
  const d = (path: string) => ({ path }) as DeleteRemoteOp;
  it("tells items inside one another from unrelated ones", () => {
    expect(independentDeletes(d("/a/x"), d("/a/y"))).toBe(true);
    expect(independentDeletes(d("/a"), d("/ab"))).toBe(true);
    expect(independentDeletes(d("/a"), d("/a/x"))).toBe(false);
    expect(independentDeletes(d("/a/x"), d("/a"))).toBe(false);
    expect(independentDeletes(d("/a"), d("/a"))).toBe(false);
  });
});
