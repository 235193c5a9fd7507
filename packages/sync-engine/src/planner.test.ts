import { describe, expect, it } from "vitest";
import { nameProblem } from "../../protocol/src/paths.ts";
import { diffLocal, diffRemote } from "./diff.ts";
import { compileIgnore } from "./ignore.ts";
import { describe as describeOp, type Operation } from "./operations.ts";
import { plan } from "./planner.ts";
import { SimWorld } from "./testing/world.ts";

const CONFLICT = "(conflicted copy sim 2025-01-02)";

function kinds(ops: readonly Operation[]): string[] {
  return ops.map((o) => describeOp(o).replace(/ — .*$/, ""));
}

function expectConverged(w: SimWorld): void {
  expect(w.localView()).toEqual(w.remoteView());
  expect(w.plan().operations).toEqual([]);
}

describe("moves", () => {
  it("a remote folder rename is one local move, not delete + re-create", () => {
    const w = new SimWorld();
    w.seed({ "/docs": null, "/docs/a.txt": "A", "/docs/sub": null, "/docs/sub/b.txt": "B" });
    w.remoteMove("/docs", "/papers");
    expect(kinds(w.plan().operations)).toEqual(["moveLocal /docs → /papers"]);
    w.sync();
    expectConverged(w);
    // Identity kept: the same local folder, now renamed.
    expect(w.local("/papers").id).toBe("L1");
  });

  it("a local folder move is one remote move", () => {
    const w = new SimWorld();
    w.seed({ "/a": null, "/b": null, "/a/x": null, "/a/x/f.txt": "F" });
    w.localMove("/a/x", "/b/y");
    expect(kinds(w.plan().operations)).toEqual(["moveRemote /a/x → /b/y"]);
    w.sync();
    expectConverged(w);
  });

  it("move/move to different places: remote wins, local follows", () => {
    const w = new SimWorld();
    w.seed({ "/a": null, "/b": null, "/f.txt": "F" });
    w.remoteMove("/f.txt", "/a/f.txt");
    w.localMove("/f.txt", "/b/g.txt");
    expect(kinds(w.plan().operations)).toEqual(["moveLocal /b/g.txt → /a/f.txt"]);
    w.sync();
    expectConverged(w);
  });

  it("crossed folder moves that would make a cycle: remote wins", () => {
    const w = new SimWorld();
    w.seed({ "/A": null, "/B": null, "/A/a.txt": "1", "/B/b.txt": "2" });
    w.remoteMove("/A", "/B/A");
    w.localMove("/B", "/A/B");
    w.sync();
    expectConverged(w);
    expect(w.remoteView()).toEqual({ "/B/": null, "/B/A/": null, "/B/A/a.txt": "1", "/B/b.txt": "2" });
  });

  it("a new local file in a folder the remote moved onto a name taken locally goes up only after the local move", () => {
    // Remote: /y/x deleted, then /y/y renamed to /y/x. Local, meanwhile: a new /y/y/c.md.
    // Uploading it as /y/x/c.md before the local folder has moved there reads a path that
    // does not hold it yet (the agent re-planned this forever).
    const w = new SimWorld();
    w.seed({ "/y": null, "/y/x": null, "/y/y": null, "/y/y/a.txt": "A" });
    w.server.remove(w.remote("/y/x").id);
    w.remoteMove("/y/y", "/y/x");
    w.localCreate("/y/y/c.md", "C");
    const res = w.sync();
    expect(res.failures).toEqual([]);
    expectConverged(w);
    expect(w.localView()).toEqual({ "/y/": null, "/y/x/": null, "/y/x/a.txt": "A", "/y/x/c.md": "C" });
    const order = kinds(res.ops);
    const moved = order.findIndex((k) => k.startsWith("moveLocal /y/y → /y/x"));
    const uploaded = order.findIndex((k) => k.startsWith("upload /y/x/c.md"));
    expect(moved, order.join("\n")).toBeGreaterThanOrEqual(0);
    expect(uploaded, order.join("\n")).toBeGreaterThan(moved);
  });

  it("a swap of two names goes through a temporary name", () => {
    const w = new SimWorld();
    w.seed({ "/x": "X", "/y": "Y" });
    const xr = w.remote("/x").id;
    const yr = w.remote("/y").id;
    w.server.move(xr, w.server.rootId, "tmp");
    w.server.move(yr, w.server.rootId, "x");
    w.server.move(xr, w.server.rootId, "y");
    const ops = w.plan().operations;
    expect(ops.some((o) => o.reason.startsWith("temporary name"))).toBe(true);
    const res = w.sync();
    expect(res.failures).toEqual([]);
    expectConverged(w);
    expect(w.localView()).toEqual({ "/x": "Y", "/y": "X" });
  });
});

describe("edits and conflicts", () => {
  it("a remote edit downloads over the unchanged local file, with preconditions", () => {
    const w = new SimWorld();
    w.seed({ "/f.txt": "v1" });
    w.server.edit(w.remote("/f.txt").id, "v2");
    const [op] = w.plan().operations;
    expect(op).toMatchObject({ kind: "download", path: "/f.txt", version: 2, expectedLocalHash: "v1" });
    w.sync();
    expectConverged(w);
    // The download replaced the file: the synced tree follows the new local identity.
    expect([...w.synced.values()].find((s) => s.name === "f.txt")?.localId).toBe(w.local("/f.txt").id);
  });

  it("a local edit uploads with baseVersion", () => {
    const w = new SimWorld();
    w.seed({ "/f.txt": "v1" });
    w.disk.edit(w.local("/f.txt").id, "mine");
    expect(w.plan().operations).toMatchObject([
      { kind: "upload", path: "/f.txt", baseVersion: 1, expectedHash: "mine" },
    ]);
    w.sync();
    expectConverged(w);
    expect(w.remote("/f.txt").version).toBe(2);
  });

  it("edit/edit keeps both: remote keeps the name, local becomes a conflicted copy", () => {
    const w = new SimWorld();
    w.seed({ "/d": null, "/d/report.pdf": "base" });
    w.server.edit(w.remote("/d/report.pdf").id, "theirs");
    w.disk.edit(w.local("/d/report.pdf").id, "mine");
    expect(kinds(w.plan().operations)).toEqual([
      `moveLocal /d/report.pdf → /d/report ${CONFLICT}.pdf`,
      "download /d/report.pdf v2",
      `upload /d/report ${CONFLICT}.pdf (new)`,
    ]);
    w.sync();
    expectConverged(w);
    expect(w.localView()).toEqual({ "/d/": null, "/d/report.pdf": "theirs", [`/d/report ${CONFLICT}.pdf`]: "mine" });
  });

  it("edit/edit to the same content is no conflict", () => {
    const w = new SimWorld();
    w.seed({ "/f": "a" });
    w.server.edit(w.remote("/f").id, "b");
    w.disk.edit(w.local("/f").id, "b");
    expect(kinds(w.plan().operations)).toEqual([`link remote ${w.remote("/f").id} ↔ local ${w.local("/f").id}`]);
    w.sync();
    expectConverged(w);
  });

  it("a new version with the same bytes only updates the synced record", () => {
    const w = new SimWorld();
    w.seed({ "/f": "a" });
    w.server.edit(w.remote("/f").id, "a");
    expect(w.plan().operations.map((o) => o.kind)).toEqual(["link"]);
    w.sync();
    expect([...w.synced.values()].find((s) => s.name === "f")?.version).toBe(2);
  });

  it("edit/delete: a local edit wins over a remote delete (re-created as a new file)", () => {
    const w = new SimWorld();
    w.seed({ "/d": null, "/d/keep.txt": "k", "/d/other.txt": "o" });
    w.disk.edit(w.local("/d/keep.txt").id, "edited");
    w.server.remove(w.remote("/d").id);
    const ops = w.plan().operations;
    expect(kinds(ops)).toEqual(["mkdirRemote /d", "upload /d/keep.txt (new)", "deleteLocal /d/other.txt"]);
    w.sync();
    expectConverged(w);
    expect(w.remoteView()).toEqual({ "/d/": null, "/d/keep.txt": "edited" });
  });

  it("edit/delete: a remote edit wins over a local delete", () => {
    const w = new SimWorld();
    w.seed({ "/f.txt": "a", "/g.txt": "g" });
    w.server.edit(w.remote("/f.txt").id, "b");
    w.disk.remove(w.local("/f.txt").id);
    w.disk.remove(w.local("/g.txt").id);
    expect(kinds(w.plan().operations)).toEqual(["download /f.txt v2", "deleteRemote /g.txt"]);
    w.sync();
    expectConverged(w);
  });

  it("delete/delete does nothing but forget the record", () => {
    const w = new SimWorld();
    w.seed({ "/f": "a" });
    w.server.remove(w.remote("/f").id);
    w.disk.remove(w.local("/f").id);
    expect(w.plan().operations.map((o) => o.kind)).toEqual(["unlink"]);
    w.sync();
    expect(w.synced.size).toBe(1);
  });

  it("create/create: same content links, different content makes a conflicted copy, folders merge", () => {
    const w = new SimWorld();
    w.remoteCreate("/same.txt", "S");
    w.localCreate("/same.txt", "S");
    w.remoteCreate("/diff.txt", "R");
    w.localCreate("/diff.txt", "L");
    w.remoteCreate("/dir", null);
    w.remoteCreate("/dir/r.txt", "r");
    w.localCreate("/dir", null);
    w.localCreate("/dir/l.txt", "l");
    const ops = w.plan().operations;
    expect(
      ops
        .filter((o) => o.kind === "upload" || o.kind === "download")
        .map((o) => (o as { path: string }).path)
        .sort(),
    ).toEqual([`/diff ${CONFLICT}.txt`, "/diff.txt", "/dir/l.txt", "/dir/r.txt"].sort());
    expect(ops.filter((o) => o.kind === "link")).toHaveLength(2); // same.txt and dir
    w.sync();
    expectConverged(w);
    expect(w.localView()).toEqual({
      [`/diff ${CONFLICT}.txt`]: "L",
      "/diff.txt": "R",
      "/dir/": null,
      "/dir/l.txt": "l",
      "/dir/r.txt": "r",
      "/same.txt": "S",
    });
  });
});

describe("name collisions", () => {
  it("case-insensitive disk: two remote names differing by case, the later is renamed on both sides", () => {
    const w = new SimWorld({ caseInsensitive: true });
    w.remoteCreate("/Report.txt", "upper");
    w.remoteCreate("/report.txt", "lower");
    w.sync();
    expectConverged(w);
    expect(w.remoteView()).toEqual({ "/Report.txt": "upper", "/report (case conflict).txt": "lower" });
  });

  it("case-insensitive disk: a synced file keeps its name against a new remote case variant", () => {
    const w = new SimWorld({ caseInsensitive: true });
    w.seed({ "/a.txt": "mine" });
    w.remoteCreate("/A.TXT", "theirs");
    w.sync();
    expectConverged(w);
    expect(w.localView()).toEqual({ "/A (case conflict).TXT": "theirs", "/a.txt": "mine" });
  });

  it("case-sensitive disk: NFC and NFD names that the server would merge get renamed, never overwritten", () => {
    const w = new SimWorld();
    w.localCreate("/caf\u00e9", "nfc");
    w.localCreate("/cafe\u0301", "nfd");
    w.sync();
    expectConverged(w);
    expect(Object.values(w.remoteView()).sort()).toEqual(["nfc", "nfd"]);
    expect(Object.keys(w.remoteView()).some((k) => k.includes("(unicode conflict)"))).toBe(true);
  });

  it("an NFD local name and the NFC remote name are the same name", () => {
    const w = new SimWorld();
    w.seed({ "/caf\u00e9": "x" });
    w.disk.move(w.local("/caf\u00e9").id, w.disk.rootId, "cafe\u0301");
    expect(w.plan().operations).toEqual([]);
  });
});

describe("ignore rules", () => {
  it("ignored files are neither uploaded nor downloaded", () => {
    const w = new SimWorld({ planOptions: { ignore: compileIgnore(["*.log", "build/"]) } });
    w.localCreate("/.DS_Store", "junk");
    w.localCreate("/draft.tmp", "t");
    w.localCreate("/run.log", "l");
    w.localCreate("/build", null);
    w.localCreate("/build/out.bin", "b");
    w.localCreate("/~$report.docx", "lock");
    w.remoteCreate("/remote.tmp", "r");
    w.localCreate("/real.txt", "R");
    expect(kinds(w.plan().operations)).toEqual(["upload /real.txt (new)"]);
  });

  it("renaming a synced file to an ignored name takes it out of sync (server copy to the trash)", () => {
    const w = new SimWorld();
    w.seed({ "/notes.txt": "n" });
    w.localMove("/notes.txt", "/notes.tmp");
    expect(kinds(w.plan().operations)).toEqual(["deleteRemote /notes.txt"]);
    w.sync();
    expect(w.localView()).toEqual({ "/notes.tmp": "n" });
  });

  it("a folder deleted remotely goes locally with its .DS_Store, but not with someone's temp file", () => {
    const w = new SimWorld();
    w.seed({ "/a": null, "/a/f": "1", "/b": null, "/b/g": "2" });
    w.localCreate("/a/.DS_Store", "junk");
    w.localCreate("/b/~$open.docx", "lock");
    w.server.remove(w.remote("/a").id);
    w.server.remove(w.remote("/b").id);
    w.sync();
    expect(w.localView()).toEqual({ "/b/": null, "/b/~$open.docx": "lock" });
    // The kept folder is synced again (empty on the server), so both sides agree.
    expect(w.remoteView()).toEqual({ "/b/": null });
  });
});

describe("selective sync", () => {
  function excluded() {
    const w = new SimWorld();
    const photos = w.remoteCreate("/Photos", null);
    w.remoteCreate("/Photos/1.jpg", "p1");
    w.remoteCreate("/Docs", null);
    w.planOptions = { ...w.planOptions, excludedRemoteIds: new Set([photos.id]) };
    return w;
  }

  it("excluded remote folders are not downloaded, and their absence is no delete", () => {
    const w = excluded();
    expect(kinds(w.plan().operations)).toEqual(["mkdirLocal /Docs"]);
    w.sync();
    expect(w.remoteView()).toMatchObject({ "/Photos/": null, "/Photos/1.jpg": "p1" });
    expect(w.localView()).toEqual({ "/Docs/": null });
  });

  it("a local item with an excluded folder's name gets a selective-sync-conflict name", () => {
    const w = excluded();
    w.localCreate("/Photos", null);
    w.localCreate("/Photos/mine.jpg", "m");
    w.sync();
    expect(w.localView()).toEqual({
      "/Docs/": null,
      "/Photos (selective sync conflict)/": null,
      "/Photos (selective sync conflict)/mine.jpg": "m",
    });
    expect(w.remoteView()["/Photos/1.jpg"]).toBe("p1");
  });

  it("excluding a synced folder removes the local copy, except local changes", () => {
    const w = new SimWorld();
    w.seed({ "/P": null, "/P/a.jpg": "a", "/P/b.jpg": "b" });
    w.disk.edit(w.local("/P/b.jpg").id, "b2");
    w.planOptions = { ...w.planOptions, excludedRemoteIds: new Set([w.remote("/P").id]) };
    w.sync();
    expect(w.localView()).toEqual({
      "/P (selective sync conflict)/": null,
      "/P (selective sync conflict)/b.jpg": "b2",
    });
    expect(w.remoteView()).toMatchObject({ "/P/a.jpg": "a", "/P/b.jpg": "b" });
  });
});

describe("files being written", () => {
  it("a new unstable file waits, then uploads once stable", () => {
    const w = new SimWorld();
    w.localCreate("/big.iso", "part", true);
    const p = w.plan();
    expect(p.operations).toEqual([]);
    expect(p.waiting).toEqual([{ side: "local", path: "/big.iso", reason: "still being written" }]);
    w.disk.stabilize();
    expect(kinds(w.plan().operations)).toEqual(["upload /big.iso (new)"]);
  });

  it("a synced file being written is neither overwritten nor deleted", () => {
    const w = new SimWorld();
    w.seed({ "/d": null, "/d/f": "v1" });
    w.disk.edit(w.local("/d/f").id, "writing", true);
    w.server.edit(w.remote("/d/f").id, "theirs");
    expect(w.plan().operations).toEqual([]);
    w.server.remove(w.remote("/d").id);
    // The folder is kept for the file; nothing touches the file itself.
    expect(w.plan().operations.some((o) => "localId" in o && o.localId === w.local("/d/f").id)).toBe(false);
    w.disk.stabilize();
    w.sync();
    expectConverged(w);
    expect(w.localView()).toEqual({ "/d/": null, "/d/f": "writing" });
  });

  it("a remote file does not take a name held by a local file being written: it waits", () => {
    const w = new SimWorld();
    w.localCreate("/a.txt", "partial", true);
    w.remoteCreate("/a.txt", "theirs");
    const p = w.plan();
    expect(p.operations).toEqual([]);
    expect(p.waiting.map((x) => x.reason)).toContain("name taken by a file being written");
    w.disk.stabilize();
    w.sync();
    expectConverged(w);
    expect(w.localView()).toEqual({ [`/a ${CONFLICT}.txt`]: "partial", "/a.txt": "theirs" });
  });

  it("files not hashed yet wait too", () => {
    const w = new SimWorld();
    const l = w.localCreate("/x", "c");
    w.disk.nodes.set(l.id, { ...l, contentHash: undefined });
    expect(w.plan().waiting[0]?.reason).toBe("not hashed yet");
  });
});

describe("ordering and preconditions", () => {
  it("creates parents before children, deep", () => {
    const w = new SimWorld();
    w.localCreate("/a", null);
    w.localCreate("/a/b", null);
    w.localCreate("/a/b/c", null);
    w.localCreate("/a/b/c/f.txt", "f");
    expect(kinds(w.plan().operations)).toEqual([
      "mkdirRemote /a",
      "mkdirRemote /a/b",
      "mkdirRemote /a/b/c",
      "upload /a/b/c/f.txt (new)",
    ]);
  });

  it("moves children out before deleting their old parent, and empties folders bottom-up", () => {
    const w = new SimWorld();
    w.seed({ "/old": null, "/old/keep.txt": "k", "/old/sub": null, "/old/sub/x.txt": "x" });
    w.remoteMove("/old/keep.txt", "/keep.txt");
    w.server.remove(w.remote("/old").id);
    expect(kinds(w.plan().operations)).toEqual([
      "moveLocal /old/keep.txt → /keep.txt",
      "deleteLocal /old/sub/x.txt",
      "deleteLocal /old/sub",
      "deleteLocal /old",
    ]);
    w.sync();
    expectConverged(w);
  });

  it("an executor that finds the world changed fails that op; the next plan handles it", () => {
    const w = new SimWorld();
    w.seed({ "/f": "v1" });
    w.disk.edit(w.local("/f").id, "mine");
    const [op] = w.plan().operations;
    w.server.edit(w.remote("/f").id, "theirs"); // someone else commits first
    const res = w.step(op!);
    expect(res.ok).toBe(false);
    w.sync();
    expectConverged(w);
    expect(Object.values(w.localView()).sort()).toEqual(["mine", "theirs"]);
  });

  it("an interrupted plan is finished, not undone", () => {
    const w = new SimWorld({ caseInsensitive: true });
    w.remoteCreate("/A", "1");
    w.remoteCreate("/a", "2");
    w.round({ stopAfter: 1 });
    w.sync();
    expectConverged(w);
    expect(w.remoteView()).toEqual({ "/A": "1", "/a (case conflict)": "2" });
  });
});

describe("safety", () => {
  it("a name the server refuses is not uploaded and is reported", () => {
    const w = new SimWorld({ planOptions: { isValidName: (n) => nameProblem(n) === null } });
    w.localCreate("/a:b.txt", "x");
    w.localCreate("/ok.txt", "y");
    const p = w.plan();
    expect(kinds(p.operations)).toEqual(["upload /ok.txt (new)"]);
    expect(p.waiting).toEqual([{ side: "local", path: "/a:b.txt", reason: "name not allowed on the server" }]);
  });

  it("a damaged synced tree (one local item linked twice) deletes nothing", () => {
    const w = new SimWorld();
    w.seed({ "/a": "A", "/b": "B" });
    const a = w.remote("/a").id;
    const b = w.remote("/b").id;
    w.synced.set(b, { ...w.synced.get(b)!, localId: w.synced.get(a)!.localId });
    const ops = w.plan().operations;
    expect(ops.some((o) => o.kind === "deleteLocal" || o.kind === "deleteRemote")).toBe(false);
    w.sync();
    expect(Object.values(w.localView()).sort()).toContain("B");
  });

  it("refuses broken trees instead of reading orphans as deletions", () => {
    const w = new SimWorld();
    w.seed({ "/a": "A" });
    w.server.nodes.set("R99", { id: "R99", parentId: "nope", name: "x", type: "file", version: 1 });
    expect(() => plan(w.server.nodes, w.disk.nodes, w.synced)).toThrow(/not a tree/);
  });
});

describe("purity", () => {
  it("same trees, same plan; inputs untouched", () => {
    const w = new SimWorld();
    w.seed({ "/a": null, "/a/f": "1", "/g": "2" });
    w.remoteMove("/a", "/b");
    w.disk.edit(w.local("/g").id, "3");
    w.localCreate("/n", "4");
    const snapshot = JSON.stringify([[...w.server.nodes], [...w.disk.nodes], [...w.synced]]);
    const a = plan(w.server.nodes, w.disk.nodes, w.synced, w.planOptions);
    const b = plan(w.server.nodes, w.disk.nodes, w.synced, w.planOptions);
    expect(a).toEqual(b);
    expect(JSON.stringify([[...w.server.nodes], [...w.disk.nodes], [...w.synced]])).toBe(snapshot);
  });
});

describe("diff", () => {
  it("reports a folder rename as one move and a folder delete once", () => {
    const w = new SimWorld();
    w.seed({ "/d": null, "/d/a": "1", "/e": null, "/e/b": "2", "/f": "3" });
    w.remoteMove("/d", "/d2");
    w.server.remove(w.remote("/e").id);
    w.server.edit(w.remote("/f").id, "4");
    w.remoteCreate("/n", "5");
    expect(
      diffRemote(w.server.nodes, w.synced)
        .map((c) => c.kind)
        .sort(),
    ).toEqual(["create", "delete", "edit", "move"]);
    w.localMove("/d", "/x");
    w.disk.edit(w.local("/f").id, "6");
    expect(
      diffLocal(w.disk.nodes, w.synced)
        .map((c) => c.kind)
        .sort(),
    ).toEqual(["edit", "move"]);
  });
});
