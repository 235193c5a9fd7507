import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { ZChangesResponse, ZTreeResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { listChanges } from "../changes/list-changes.ts";
import { contentHashOf } from "../uploads/commit-upload.ts";
import { whoami } from "./home.ts";
import { mkdir } from "./mkdir.ts";
import { moveEntry } from "./move.ts";
import { deleteEntry } from "./delete.ts";
import { addNode, createUser, fakeChunk, testContext, upload, type TestNode } from "./test-fixtures.ts";
import { fsTree } from "./snapshot.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let aliceHome: string;
let nodes: TestNode[];

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 1 });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  aliceHome = (await whoami(ctx, alice)).home;
  nodes = [await addNode(ctx, "hq-1", "hq")];
});
afterAll(async () => {
  await db?.drop();
});

const tree = async (user: AuthUser, path: string) => ZTreeResponse.parse(await fsTree(ctx, user, { path }));

describe("fs tree snapshot", () => {
  it("lists every live entry under a folder, parents first, with versions, hashes and a cursor", async () => {
    const root = await mkdir(ctx, alice, { path: `${aliceHome}/sync`, parents: false });
    const sub = await mkdir(ctx, alice, { path: `${aliceHome}/sync/sub`, parents: false });
    const chunks = [fakeChunk(10), fakeChunk(20)];
    const f = await upload(ctx, alice, nodes, `${aliceHome}/sync/sub/a.txt`, chunks);
    await upload(ctx, alice, nodes, `${aliceHome}/sync/gone.txt`, [fakeChunk(3)]);
    await deleteEntry(ctx, alice, { path: `${aliceHome}/sync/gone.txt`, recursive: false });
    await mkdir(ctx, alice, { path: `${aliceHome}/sync/trashed/inner`, parents: true });
    await deleteEntry(ctx, alice, { path: `${aliceHome}/sync/trashed`, recursive: true });

    const t = await tree(alice, `${aliceHome}/sync`);
    expect(t.path).toBe(`${aliceHome}/sync`);
    expect(t.entries.map((e) => [e.name, e.type, e.parentId, e.version])).toEqual([
      ["sync", "folder", expect.any(String), null],
      ["sub", "folder", root.id, null],
      ["a.txt", "file", sub.id, 1],
    ]);
    const file = t.entries[2]!;
    expect(file.id).toBe(f.entry.id);
    expect(file.contentHash).toBe(contentHashOf(chunks));
    expect(file.size).toBe(30);
    // Nothing newer than the cursor is missing from the snapshot.
    expect((await listChanges(ctx, alice, { cursor: t.cursor })).changes).toEqual([]);
  });

  it("refuses folders the user cannot read and bad input, as the rest of the API does", async () => {
    await expect(fsTree(ctx, bob, { path: `${aliceHome}/sync` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(fsTree(ctx, alice, { path: `${aliceHome}/nope` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(fsTree(ctx, alice, { path: 42 })).rejects.toThrow();
  });

  it("follows a shared folder for a reader", async () => {
    const shared = await mkdir(ctx, alice, { path: `${aliceHome}/team`, parents: false });
    await mkdir(ctx, alice, { path: `${aliceHome}/team/x`, parents: false });
    await ctx.prisma.aclEntry.create({ data: { entryId: shared.id, userId: bob.id, permission: "read" } });
    expect((await tree(bob, `${aliceHome}/team`)).entries.map((e) => e.name)).toEqual(["team", "x"]);
  });
});

describe("change rows for sync agents", () => {
  it("carry the parent id, name and content hash", async () => {
    const start = (await tree(alice, aliceHome)).cursor;
    const dir = await mkdir(ctx, alice, { path: `${aliceHome}/feed`, parents: false });
    const chunks = [fakeChunk(7)];
    const f = await upload(ctx, alice, nodes, `${aliceHome}/feed/x.bin`, chunks);
    await moveEntry(ctx, alice, { from: `${aliceHome}/feed/x.bin`, to: `${aliceHome}/y.bin` });
    const got = ZChangesResponse.parse(await listChanges(ctx, alice, { cursor: start }));
    const home = (await tree(alice, aliceHome)).entries[0]!.id;
    expect(got.changes.map((c) => [c.kind, c.entryId, c.parentId, c.name, c.contentHash])).toEqual([
      ["create", dir.id, home, "feed", null],
      ["create", f.entry.id, dir.id, "x.bin", contentHashOf(chunks)],
      ["move", f.entry.id, home, "y.bin", null],
    ]);
  });
});
