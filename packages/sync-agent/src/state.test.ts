import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentState } from "./state.ts";
import { IndexedTree } from "./tree.ts";
import type { RemoteNode } from "@cumulus/sync-engine/model";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "agent-state-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("AgentState", () => {
  it("writes the synced tree through and reloads it after a reopen (as after kill -9)", () => {
    const s1 = new AgentState(dir);
    const synced = s1.loadSynced();
    synced.set("r0", { id: "r0", localId: "l0", parentId: null, name: "", type: "folder" });
    synced.set("r1", {
      id: "r1",
      localId: "l1",
      parentId: "r0",
      name: "a.txt",
      type: "file",
      contentHash: "h",
      version: 3,
    });
    synced.set("r2", { id: "r2", localId: "l2", parentId: "r0", name: "b", type: "folder" });
    synced.delete("r2");
    // No close(): the database must already hold every committed write.
    const s2 = new AgentState(dir);
    const again = s2.loadSynced();
    expect([...again.values()]).toEqual([
      { id: "r0", localId: "l0", parentId: null, name: "", type: "folder", contentHash: undefined, version: undefined },
      { id: "r1", localId: "l1", parentId: "r0", name: "a.txt", type: "file", contentHash: "h", version: 3 },
    ]);
    expect(again.idsByLocal("l1")).toEqual(["r1"]);
    expect(again.childIds("r0")).toEqual(["r1"]);
    s1.close();
    s2.close();
  });

  it("keeps the remote tree and its cursor together, and the hash cache", () => {
    const s = new AgentState(dir);
    const tree = new IndexedTree<RemoteNode>();
    tree.set("root", { id: "root", parentId: null, name: "", type: "folder" });
    tree.set("f", { id: "f", parentId: "root", name: "x", type: "file", version: 2, contentHash: "c" });
    s.saveRemote(tree, [], 41, true);
    tree.delete("f");
    tree.set("g", { id: "g", parentId: "root", name: "y", type: "folder" });
    s.saveRemote(tree, ["f", "g"], 42);
    s.saveHashes([
      ["1:2", { size: 5, mtimeMs: 1234.5678, hash: "abc" }],
      ["1:3", { size: 1, mtimeMs: 1, hash: "z" }],
    ]);
    s.saveHashes([["1:3", null]]);
    s.close();

    const r = new AgentState(dir);
    const { tree: t, cursor } = r.loadRemote();
    expect(cursor).toBe(42);
    expect([...t.keys()].sort()).toEqual(["g", "root"]);
    expect(t.resolve("/y")?.id).toBe("g");
    expect([...r.loadHashes()]).toEqual([["1:2", { size: 5, mtimeMs: 1234.5678, hash: "abc" }]]);
    r.close();
  });

  it("rolls a failed transaction back completely", () => {
    const s = new AgentState(dir);
    expect(() =>
      s.tx(() => {
        s.setMeta("cursor", "7");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(s.getMeta("cursor")).toBeUndefined();
    s.close();
  });
});
