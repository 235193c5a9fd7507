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
    t.set("a", { id: "a", parentId: "r", name: "a", type: "file", size: 1 });
    expect(t.takeChanges()).toEqual(new Set());
    t.set("a", { id: "a", parentId: "r", name: "a", type: "file", size: 2 });
    t.set("b", { id: "b", parentId: "r", name: "b", type: "folder" });
    t.delete("r-missing");
    t.delete("b");
    expect(t.takeChanges()).toEqual(new Set(["a", "b"]));
    t.set("c", { id: "c", parentId: "r", name: "c", type: "folder" });
    t.clear();
    t.set("r", { id: "r", parentId: null, name: "", type: "folder" });
    expect(t.takeChanges()).toBeNull();
    expect(t.takeChanges()).toEqual(new Set());
  });
});
