import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CumulusClient } from "@cumulus/client/client";
import { startFakeCluster, type FakeCluster } from "@cumulus/client/testing/fake-cluster";
import type { Operation } from "@cumulus/sync-engine/operations";
import { Executor, PreconditionFailed, describeError } from "./executor.ts";
import { contentHashOf } from "./hash.ts";
import { LocalScanner, localIdOf } from "./local.ts";
import { RemoteMirror } from "./remote.ts";
import { AgentState } from "./state.ts";

// The local half of the executor against a real temp dir. (Remote operations need a
// server: they are covered end to end in e2e/specs/sync-agents.spec.ts.)

let dir: string;
let root: string;
let state: AgentState;
let exec: Executor;
let scanner: LocalScanner;

async function rescan(): Promise<void> {
  exec.local = (await scanner.scan({ stableMs: 0 })).tree;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "agent-exec-"));
  root = path.join(dir, "root");
  await mkdir(path.join(root, "sub"), { recursive: true });
  await writeFile(path.join(root, "a.txt"), "alpha");
  await writeFile(path.join(root, "sub", "b.txt"), "beta");
  state = new AgentState(path.join(dir, "state"));
  // Nothing listens there: a local operation that reached for the server would fail loudly.
  const client = new CumulusClient({ server: "http://127.0.0.1:9", token: "t" });
  scanner = new LocalScanner(root, new Map());
  exec = new Executor(
    {
      client,
      localDir: root,
      remote: new RemoteMirror(client, "/home/x", state),
      scanner,
      journalDir: path.join(dir, "state", "uploads"),
      deviceName: "test",
    },
    (await scanner.scan({ stableMs: 0 })).tree,
  );
});
afterEach(async () => {
  state.close();
  await rm(dir, { recursive: true, force: true });
});

const idOf = async (rel: string) => localIdOf(await stat(path.join(root, rel)));
const hashOf = (rel: string) => exec.local.resolve(rel)!.contentHash!;

describe("Executor (local side)", () => {
  it("creates a folder at a free name and reports its inode; a taken name fails the precondition", async () => {
    const out = await exec.run({ kind: "mkdirLocal", path: "/new", remoteId: "r", reason: "test" });
    expect(out.localId).toBe(await idOf("new"));
    expect(exec.local.resolve("/new")?.id).toBe(out.localId);
    await expect(exec.run({ kind: "mkdirLocal", path: "/sub", remoteId: "r2", reason: "test" })).rejects.toBeInstanceOf(
      PreconditionFailed,
    );
  });

  it("moves keeping the identity, and never over an existing name", async () => {
    const id = await idOf("a.txt");
    const move = (to: string): Operation => ({
      kind: "moveLocal",
      localId: id,
      remoteId: null,
      from: "/a.txt",
      to,
      reason: "t",
    });
    await expect(exec.run(move("/sub/b.txt"))).rejects.toBeInstanceOf(PreconditionFailed);
    expect(await readFile(path.join(root, "sub", "b.txt"), "utf8")).toBe("beta");
    expect(await readFile(path.join(root, "a.txt"), "utf8")).toBe("alpha");
    await exec.run(move("/sub/a2.txt"));
    expect(await idOf("sub/a2.txt")).toBe(id);
    expect(exec.local.resolve("/sub/a2.txt")?.id).toBe(id);
    // The item at `from` must be the one named: a stale operation fails.
    await expect(exec.run(move("/x.txt"))).rejects.toBeInstanceOf(PreconditionFailed);
  });

  it("deletes a file only while it holds the expected content, and a folder only when empty", async () => {
    const id = await idOf("a.txt");
    const expected = hashOf("/a.txt");
    await writeFile(path.join(root, "a.txt"), "changed meanwhile");
    await rescan();
    const del: Operation = {
      kind: "deleteLocal",
      path: "/a.txt",
      localId: id,
      type: "file",
      expectedHash: expected,
      reason: "t",
    };
    await expect(exec.run(del)).rejects.toBeInstanceOf(PreconditionFailed);
    expect(await readFile(path.join(root, "a.txt"), "utf8")).toBe("changed meanwhile");

    const sub = await idOf("sub");
    await expect(
      exec.run({ kind: "deleteLocal", path: "/sub", localId: sub, type: "folder", expectedHash: null, reason: "t" }),
    ).rejects.toBeInstanceOf(PreconditionFailed);
    expect(await readFile(path.join(root, "sub", "b.txt"), "utf8")).toBe("beta");

    await exec.run({
      kind: "deleteLocal",
      path: "/sub/b.txt",
      localId: await idOf("sub/b.txt"),
      type: "file",
      expectedHash: hashOf("/sub/b.txt"),
      reason: "t",
    });
    await exec.run({
      kind: "deleteLocal",
      path: "/sub",
      localId: sub,
      type: "folder",
      expectedHash: null,
      reason: "t",
    });
    await expect(stat(path.join(root, "sub"))).rejects.toThrow();
    expect(exec.local.resolve("/sub")).toBeUndefined();
  });

  // The planner names items by their NFC names (the server's); a Linux disk keeps the bytes
  // it was given, so an item whose name is NFD on disk is only found through the local tree.
  describe("names that are NFD on disk (the planner's paths are NFC)", () => {
    const nfd = "cafe\u0301";
    const nfc = "caf\u00e9";
    beforeEach(async () => {
      await mkdir(path.join(root, nfd));
      await writeFile(path.join(root, nfd, `${nfd}.txt`), "accent");
      await rescan();
    });

    it("deletes, moves and checks the NFD item the NFC path names", async () => {
      const file = await idOf(`${nfd}/${nfd}.txt`);
      const move: Operation = {
        kind: "moveLocal",
        localId: file,
        remoteId: null,
        from: `/${nfc}/${nfc}.txt`,
        to: `/${nfc}/plain.txt`,
        reason: "t",
      };
      await exec.run(move);
      expect(await readFile(path.join(root, nfd, "plain.txt"), "utf8")).toBe("accent");
      expect(exec.local.pathOf(file)).toBe(`/${nfd}/plain.txt`);
      await exec.run({
        kind: "deleteLocal",
        path: `/${nfc}/plain.txt`,
        localId: file,
        type: "file",
        expectedHash: hashOf(`/${nfd}/plain.txt`),
        reason: "t",
      });
      await expect(stat(path.join(root, nfd, "plain.txt"))).rejects.toMatchObject({ code: "ENOENT" });
      const folder = await idOf(nfd);
      await exec.run({
        kind: "deleteLocal",
        path: `/${nfc}`,
        localId: folder,
        type: "folder",
        expectedHash: null,
        reason: "t",
      });
      await expect(stat(path.join(root, nfd))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("creates new items inside the NFD folder, not beside it under the NFC name", async () => {
      const out = await exec.run({ kind: "mkdirLocal", path: `/${nfc}/inner`, remoteId: "r", reason: "t" });
      expect(out.localId).toBe(await idOf(`${nfd}/inner`));
      expect(exec.local.pathOf(out.localId!)).toBe(`/${nfd}/inner`);
      await expect(stat(path.join(root, nfc))).rejects.toMatchObject({ code: "ENOENT" });
    });

    it("still tells an NFC name from a different item of the same NFC name", async () => {
      const other = await idOf("a.txt");
      await expect(
        exec.run({
          kind: "deleteLocal",
          path: `/${nfc}/${nfc}.txt`,
          localId: other,
          type: "file",
          expectedHash: null,
          reason: "t",
        }),
      ).rejects.toBeInstanceOf(PreconditionFailed);
      expect(await readFile(path.join(root, nfd, `${nfd}.txt`), "utf8")).toBe("accent");
    });
  });

  it("names what a person can do about failures", () => {
    expect(describeError(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" }))).toMatchObject({
      code: "PERMISSION_DENIED",
    });
    expect(describeError(Object.assign(new Error("no space"), { code: "ENOSPC" })).code).toBe("DISK_FULL");
    expect(describeError(Object.assign(new Error("down"), { code: "UNAVAILABLE" })).fix).toMatch(/network/);
  });
});

describe("Executor upload (against the client's fake cluster)", () => {
  let fc: FakeCluster;
  afterEach(async () => {
    await fc?.close();
  });

  it("a file whose bytes changed without its stat: nothing committed, the scanner hashes it again", async () => {
    fc = await startFakeCluster();
    const client = new CumulusClient({ server: fc.url, token: "good-token" });
    const remote = new RemoteMirror(client, "/", state);
    remote.put({ id: "root", parentId: null, name: "", type: "folder" });
    remote.rootId = "root";
    // Random bytes of 6 MiB: several chunks, and big enough for the scanner to keep its chunk list.
    await writeFile(path.join(root, "big.bin"), randomBytes(6 * 1024 * 1024));
    const up = new Executor(
      { client, localDir: root, remote, scanner, journalDir: path.join(dir, "state", "uploads"), deviceName: "test" },
      (await scanner.scan({ stableMs: 0 })).tree,
    );
    const id = await idOf("big.bin");
    const real = scanner.manifests.get(id)!;
    expect(real.chunks.length).toBeGreaterThan(2);
    // What the scanner would hold had the file changed within one mtime tick after its scan:
    // the stat it recorded, another content.
    const chunks = real.chunks.map((c, i) => (i === 1 ? { ...c, id: "0".repeat(64) } : c));
    const claimed = contentHashOf(chunks);
    scanner.manifests.set(id, { ...real, chunks });
    scanner.remember(id, { size: real.size, mtimeMs: real.mtimeMs, hash: claimed });
    const op: Operation = {
      kind: "upload",
      path: "/big.bin",
      localId: id,
      remoteId: null,
      baseVersion: null,
      expectedHash: claimed,
      reason: "test",
    };
    await expect(up.run(op)).rejects.toBeInstanceOf(PreconditionFailed);
    expect(fc.nodes[0]!.hashMismatches).toBe(1);
    expect(fc.commits).toHaveLength(0);
    expect(scanner.hashes.has(id)).toBe(false);
    expect(scanner.manifests.has(id)).toBe(false);
    // The next incremental scan (no watcher event: the stat did not change) hashes it again.
    const again = await scanner.update([], { stableMs: 0 });
    expect(again!.tree.get(id)!.contentHash).toBe(contentHashOf(real.chunks));
  });
});
