import { describe, expect, it } from "vitest";
import { initialSynced, SyncedStore, type LocalNode, type RemoteNode, type SyncedNode } from "./model.ts";
import { applyOutcome } from "./synced.ts";

const R0: RemoteNode = { id: "R0", parentId: null, name: "", type: "folder" };
const L0: LocalNode = { id: "L0", parentId: null, name: "", type: "folder" };

function trees(r: RemoteNode[], l: LocalNode[]) {
  return {
    remote: new Map([R0, ...r].map((n) => [n.id, n])),
    local: new Map([L0, ...l].map((n) => [n.id, n])),
  };
}

function rec(id: string, localId: string, name: string, extra: Partial<SyncedNode> = {}): SyncedNode {
  return { id, localId, parentId: "R0", name, type: "file", contentHash: "h1", version: 1, ...extra };
}

describe("applyOutcome", () => {
  it("updates a record's position only once both sides agree on it", () => {
    const synced = initialSynced("R0", "L0").set("R1", rec("R1", "L1", "a"));
    // First of two renames done: remote is "a (case conflict)", local still "a".
    let t = trees(
      [{ id: "R1", parentId: "R0", name: "a (case conflict)", type: "file", version: 1, contentHash: "h1" }],
      [{ id: "L1", parentId: "L0", name: "a", type: "file", contentHash: "h1" }],
    );
    applyOutcome(
      synced,
      { kind: "moveRemote", remoteId: "R1", localId: "L1", from: "/a", to: "/a (case conflict)", reason: "" },
      {},
      t.remote,
      t.local,
    );
    expect(synced.get("R1")?.name).toBe("a");
    t = trees(
      [{ id: "R1", parentId: "R0", name: "a (case conflict)", type: "file", version: 1, contentHash: "h1" }],
      [{ id: "L1", parentId: "L0", name: "a (case conflict)", type: "file", contentHash: "h1" }],
    );
    applyOutcome(
      synced,
      { kind: "moveLocal", remoteId: "R1", localId: "L1", from: "/a", to: "/a (case conflict)", reason: "" },
      {},
      t.remote,
      t.local,
    );
    expect(synced.get("R1")?.name).toBe("a (case conflict)");
  });

  it("records what an upload sent, even if the file changed again since", () => {
    const synced = initialSynced("R0", "L0").set("R1", rec("R1", "L1", "a"));
    const t = trees(
      [{ id: "R1", parentId: "R0", name: "a", type: "file", version: 2, contentHash: "h2" }],
      [{ id: "L1", parentId: "L0", name: "a", type: "file", contentHash: "h3" }],
    );
    applyOutcome(
      synced,
      { kind: "upload", path: "/a", localId: "L1", remoteId: "R1", baseVersion: 1, expectedHash: "h2", reason: "" },
      { remoteId: "R1", version: 2 },
      t.remote,
      t.local,
    );
    expect(synced.get("R1")).toMatchObject({ contentHash: "h2", version: 2 });
  });

  it("a re-created item replaces the old record of its local id, children follow", () => {
    const synced = initialSynced("R0", "L0")
      .set("R1", { id: "R1", localId: "L1", parentId: "R0", name: "d", type: "folder" })
      .set("R2", { ...rec("R2", "L2", "x"), parentId: "R1" });
    const t = trees(
      [{ id: "R9", parentId: "R0", name: "d", type: "folder" }],
      [
        { id: "L1", parentId: "L0", name: "d", type: "folder" },
        { id: "L2", parentId: "L1", name: "x", type: "file", contentHash: "h1" },
      ],
    );
    applyOutcome(
      synced,
      { kind: "mkdirRemote", path: "/d", localId: "L1", reason: "" },
      { remoteId: "R9" },
      t.remote,
      t.local,
    );
    expect(synced.has("R1")).toBe(false);
    expect(synced.get("R9")).toMatchObject({ localId: "L1", name: "d" });
    expect(synced.get("R2")?.parentId).toBe("R9");
    expect((synced as SyncedStore).childIds("R9")).toEqual(["R2"]);
  });

  it("a download's new local identity is linked", () => {
    const synced = initialSynced("R0", "L0").set("R1", rec("R1", "L1", "a"));
    const t = trees(
      [{ id: "R1", parentId: "R0", name: "a", type: "file", version: 2, contentHash: "h2" }],
      [{ id: "L7", parentId: "L0", name: "a", type: "file", contentHash: "h2" }],
    );
    applyOutcome(
      synced,
      {
        kind: "download",
        path: "/a",
        remoteId: "R1",
        version: 2,
        contentHash: undefined,
        localId: "L1",
        expectedLocalHash: "h1",
        reason: "",
      },
      { localId: "L7", contentHash: "h2" },
      t.remote,
      t.local,
    );
    expect(synced.get("R1")).toMatchObject({ localId: "L7", contentHash: "h2", version: 2 });
  });

  it("never starts a link between different contents", () => {
    const synced = initialSynced("R0", "L0");
    const t = trees(
      [{ id: "R1", parentId: "R0", name: "a", type: "file", version: 1, contentHash: "x" }],
      [{ id: "L1", parentId: "L0", name: "a", type: "file", contentHash: "y" }],
    );
    applyOutcome(
      synced,
      { kind: "link", remoteId: "R1", localId: "L1", expectedHash: "x", reason: "" },
      {},
      t.remote,
      t.local,
    );
    expect(synced.has("R1")).toBe(false);
  });

  it("deletes and unlinks forget records, never the root", () => {
    const synced = initialSynced("R0", "L0")
      .set("R1", rec("R1", "L1", "a"))
      .set("R2", rec("R2", "L2", "b"));
    const t = trees([], []);
    applyOutcome(
      synced,
      { kind: "deleteLocal", path: "/a", localId: "L1", type: "file", expectedHash: "h1", reason: "" },
      {},
      t.remote,
      t.local,
    );
    applyOutcome(synced, { kind: "unlink", remoteId: "R2", reason: "" }, {}, t.remote, t.local);
    applyOutcome(synced, { kind: "unlink", remoteId: "R0", reason: "" }, {}, t.remote, t.local);
    expect([...synced.keys()]).toEqual(["R0"]);
  });
});

describe("SyncedStore", () => {
  it("keeps its indexes in step with set and delete", () => {
    const s = new SyncedStore();
    s.set("R1", rec("R1", "L1", "a"));
    s.set("R1", { ...rec("R1", "L2", "a"), parentId: "R5" });
    expect(s.idsByLocal("L1")).toEqual([]);
    expect(s.idsByLocal("L2")).toEqual(["R1"]);
    expect(s.childIds("R0")).toEqual([]);
    expect(s.childIds("R5")).toEqual(["R1"]);
    s.delete("R1");
    expect(s.idsByLocal("L2")).toEqual([]);
    const copy = new SyncedStore([["R3", rec("R3", "L3", "c")]]);
    expect(copy.idsByLocal("L3")).toEqual(["R3"]);
  });
});

describe("SyncedStore.takeChanges", () => {
  it("lists the records set or deleted since the last call; null after a clear", () => {
    const s = initialSynced("R", "L");
    expect(s.takeChanges()).toEqual(new Set(["R"]));
    s.set("a", { id: "a", localId: "la", parentId: "R", name: "a", type: "file" });
    s.delete("nothing");
    expect(s.takeChanges()).toEqual(new Set(["a"]));
    s.delete("a");
    expect(s.takeChanges()).toEqual(new Set(["a"]));
    s.clear();
    s.set("R", { id: "R", localId: "L", parentId: null, name: "", type: "folder" });
    expect(s.takeChanges()).toBeNull();
    expect(s.takeChanges()).toEqual(new Set());
  });
});
