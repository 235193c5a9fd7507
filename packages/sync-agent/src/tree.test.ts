import { describe, expect, it } from "vitest";
import type { LocalNode } from "@cumulus/sync-engine/model";
import { IndexedTree } from "./tree.ts";

describe("IndexedTree.takeChanges", () => {
  it("lists the ids set to something new or deleted since the last call; null after a clear", () => {
    const t = new IndexedTree<LocalNode>();
    t.set("r", { id: "r", parentId: null, name: "", type: "folder" });
    t.set("a", { id: "a", parentId: "r", name: "a", type: "file", size: 1 });
    expect(t.takeChanges()).toEqual(new Set(["r", "a"]));
    expect(t.takeChanges()).toEqual(new Set());
    // The same values again are no change; a new value, a new node and a delete are.
    // The stamp (the agent's "nothing changed, skip the plan" key) follows the same rule.
    const stamp = t.stamp;
    t.set("a", { id: "a", parentId: "r", name: "a", type: "file", size: 1 });
    expect(t.takeChanges()).toEqual(new Set());
    expect(t.stamp).toBe(stamp);
    t.set("a", { id: "a", parentId: "r", name: "a", type: "file", size: 2 });
    expect(t.stamp).not.toBe(stamp);
    t.set("b", { id: "b", parentId: "r", name: "b", type: "folder" });
    const beforeMissing = t.stamp;
    t.delete("r-missing");
    expect(t.stamp).toBe(beforeMissing);
    t.delete("b");
    expect(t.takeChanges()).toEqual(new Set(["a", "b"]));
    // Another tree with the same contents is not the same stamp (the agent replaced the tree).
    expect(new IndexedTree<LocalNode>().stamp).not.toBe(new IndexedTree<LocalNode>().stamp);
    t.set("c", { id: "c", parentId: "r", name: "c", type: "folder" });
    t.clear();
    t.set("r", { id: "r", parentId: null, name: "", type: "folder" });
    expect(t.takeChanges()).toBeNull();
    expect(t.takeChanges()).toEqual(new Set());
  });
});
