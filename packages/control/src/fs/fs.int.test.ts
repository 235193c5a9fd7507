import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZodError } from "zod";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { canAccess } from "../access/access.ts";
import { mkdir } from "./mkdir.ts";
import { listFolder } from "./list.ts";
import { statEntry } from "./stat.ts";
import { moveEntry } from "./move.ts";
import { deleteEntry } from "./delete.ts";
import { listTrash, restoreFromTrash } from "./trash.ts";
import { homeNameFor, whoami } from "./home.ts";
import { createUser, testContext } from "./test-fixtures.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let aliceHome: string;
let bobHome: string;

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  aliceHome = (await whoami(ctx, alice)).home;
  bobHome = (await whoami(ctx, bob)).home;
});
afterAll(async () => {
  await db?.drop();
});

const names = async (user: AuthUser, path: string) =>
  (await listFolder(ctx, user, { path })).entries.map((e) => e.name);
const entryCount = () => ctx.prisma.entry.count();
const changeCount = () => ctx.prisma.change.count();

describe("home folders", () => {
  it("creates one home per user under /home, owned by them, and finds it again", async () => {
    expect(aliceHome).toBe("/home/alice");
    expect(bobHome).toBe("/home/bob");
    expect((await whoami(ctx, alice)).home).toBe("/home/alice");
    const home = await statEntry(ctx, alice, { path: aliceHome });
    expect(home.entry.owner).toBe("alice@corp.test");
  });

  it("gives a second user with the same local part a suffixed home; concurrent first calls agree", async () => {
    const other = await createUser(ctx, "alice@other.test");
    const homes = await Promise.all([whoami(ctx, other), whoami(ctx, other), whoami(ctx, other)]);
    expect(new Set(homes.map((h) => h.home))).toEqual(new Set(["/home/alice-2"]));
    expect(await ctx.prisma.entry.count({ where: { ownerId: other.id } })).toBe(1);
  });

  it("makes a valid name from any e-mail local part", () => {
    expect(homeNameFor("Jo.Doe+x@corp", "f")).toBe("Jo.Doe+x");
    expect(homeNameFor("con@corp", "f")).toBe("con_");
    expect(homeNameFor("a:b*c.@corp", "f")).toBe("a_b_c");
    expect(homeNameFor("...@corp", "fallback")).toBe("fallback");
  });

  it("lists / and /home to a user as the way to their own home only", async () => {
    expect(await names(alice, "/")).toEqual(["home"]);
    expect(await names(alice, "/home")).toEqual(["alice"]);
    expect(await names(admin, "/home")).toEqual(expect.arrayContaining(["alice", "alice-2", "bob"]));
  });
});

describe("names and paths", () => {
  const bad = [
    "/home/alice/..",
    "/home/alice/../bob/x",
    "/home/alice/./x",
    "home/alice/x",
    "/home/alice/a\u0000b",
    "/home/alice/a\\b",
    "/home/alice/" + "x".repeat(256),
    "/home/alice/CON",
    "/home/alice/lpt1.txt",
    "/home/alice/trailing.",
    "/home/alice/trailing ",
    "/home/alice/what?",
    "",
  ];
  it.each(bad)("refuses %j and creates nothing", async (path) => {
    const before = [await entryCount(), await changeCount()];
    const err = await mkdir(ctx, alice, { path, parents: true }).then(
      () => null,
      (e: unknown) => e,
    );
    // A ZodError is what the route answers as BAD_REQUEST.
    if (err instanceof ZodError) expect(path).toBe("");
    else expect(err).toMatchObject({ code: expect.stringMatching(/^(INVALID_PATH|INVALID_NAME)$/) });
    expect([await entryCount(), await changeCount()]).toEqual(before);
  });

  it("stores names NFC-normalised: the NFD spelling is the same entry", async () => {
    const nfd = "Cafe\u0301";
    const e = await mkdir(ctx, alice, { path: `${aliceHome}/${nfd}`, parents: false });
    expect(e.name).toBe("Caf\u00e9");
    await expect(mkdir(ctx, alice, { path: `${aliceHome}/Caf\u00e9`, parents: false })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
  });
});

describe("mkdir", () => {
  it("creates missing parents with -p, each with a change-feed row, and is idempotent", async () => {
    const before = await changeCount();
    const e = await mkdir(ctx, alice, { path: `${aliceHome}/p/q/r`, parents: true });
    expect(e.path).toBe(`${aliceHome}/p/q/r`);
    expect(e.type).toBe("folder");
    expect(await changeCount()).toBe(before + 3);
    const again = await mkdir(ctx, alice, { path: `${aliceHome}/p/q/r`, parents: true });
    expect(again.id).toBe(e.id);
    expect(await changeCount()).toBe(before + 3);
  });

  it("without -p refuses a missing parent and an existing target", async () => {
    await expect(mkdir(ctx, alice, { path: `${aliceHome}/nope/x`, parents: false })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(mkdir(ctx, alice, { path: `${aliceHome}/p`, parents: false })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
  });

  it("concurrent mkdir -p of the same tree creates each folder once", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => mkdir(ctx, alice, { path: `${aliceHome}/race/a/b`, parents: true })),
    );
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    expect(await names(alice, `${aliceHome}/race`)).toEqual(["a"]);
    expect(await names(alice, `${aliceHome}/race/a`)).toEqual(["b"]);
  });
});

describe("access between users", () => {
  it("refuses another user's paths without revealing what exists, and changes nothing", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/secret`, parents: false });
    const before = [await entryCount(), await changeCount()];
    const existing = listFolder(ctx, bob, { path: `${aliceHome}/secret` });
    const missing = listFolder(ctx, bob, { path: `${aliceHome}/no-such-thing` });
    const [e1, e2] = await Promise.all([existing.catch((e: unknown) => e), missing.catch((e: unknown) => e)]);
    expect(e1).toMatchObject({ code: "NOT_FOUND" });
    expect(e2).toMatchObject({ code: "NOT_FOUND" });
    expect((e1 as Error).message).toBe(`no such file or folder: ${aliceHome}/secret`);
    await expect(listFolder(ctx, bob, { path: aliceHome })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(statEntry(ctx, bob, { path: `${aliceHome}/secret` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(mkdir(ctx, bob, { path: `${aliceHome}/secret/x`, parents: true })).rejects.toMatchObject({
      code: expect.stringMatching(/NOT_FOUND|FORBIDDEN/),
    });
    await expect(mkdir(ctx, bob, { path: `${aliceHome}/secret/x`, parents: false })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(deleteEntry(ctx, bob, { path: `${aliceHome}/secret`, recursive: true })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(moveEntry(ctx, bob, { from: `${aliceHome}/secret`, to: `${bobHome}/stolen` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(moveEntry(ctx, bob, { from: `${bobHome}`, to: `${aliceHome}/mine` })).rejects.toMatchObject({
      code: expect.stringMatching(/NOT_FOUND|FORBIDDEN/),
    });
    // Creating next to the homes (in /home itself) is refused too.
    await expect(mkdir(ctx, bob, { path: "/home/carol", parents: false })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect([await entryCount(), await changeCount()]).toEqual(before);
  });

  it("lets an ACL grant reach into another user's folder, with the granted permission only", async () => {
    const shared = await mkdir(ctx, alice, { path: `${aliceHome}/shared`, parents: false });
    await ctx.prisma.aclEntry.create({ data: { entryId: shared.id, userId: bob.id, permission: "read" } });
    expect(await canAccess(ctx, bob, shared, "read")).toBe(true);
    expect(await canAccess(ctx, bob, shared, "write")).toBe(false);
    expect(await names(bob, `${aliceHome}/shared`)).toEqual([]);
    // Bob can now see the way there, but nothing else of alice's.
    expect(await names(bob, aliceHome)).toEqual(["shared"]);
    await expect(mkdir(ctx, bob, { path: `${aliceHome}/shared/x`, parents: false })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });

    const group = await ctx.prisma.group.create({ data: { name: "editors", members: { create: { userId: bob.id } } } });
    await ctx.prisma.aclEntry.create({ data: { entryId: shared.id, groupId: group.id, permission: "write" } });
    expect(await canAccess(ctx, bob, shared, "write")).toBe(true);
    const made = await mkdir(ctx, bob, { path: `${aliceHome}/shared/from-bob`, parents: false });
    expect(made.owner).toBe("bob@corp.test");
    expect(await canAccess(ctx, bob, shared, "manage")).toBe(false);
    expect(await canAccess(ctx, admin, shared, "manage")).toBe(true);
  });
});

describe("move and rename", () => {
  it("renames and moves, keeping the entry and its contents", async () => {
    const a = await mkdir(ctx, alice, { path: `${aliceHome}/mv/a/inner`, parents: true });
    await mkdir(ctx, alice, { path: `${aliceHome}/mv/b`, parents: false });
    const renamed = await moveEntry(ctx, alice, { from: `${aliceHome}/mv/a`, to: `${aliceHome}/mv/a2` });
    expect(renamed.path).toBe(`${aliceHome}/mv/a2`);
    const moved = await moveEntry(ctx, alice, { from: `${aliceHome}/mv/a2`, to: `${aliceHome}/mv/b/a3` });
    expect(moved.id).toBe(renamed.id);
    expect((await statEntry(ctx, alice, { path: `${aliceHome}/mv/b/a3/inner` })).entry.id).toBe(a.id);
    expect(await names(alice, `${aliceHome}/mv`)).toEqual(["b"]);
    const change = await ctx.prisma.change.findFirst({
      where: { entryId: moved.id, kind: "move" },
      orderBy: { seq: "desc" },
    });
    expect(change?.name).toBe("a3");
  });

  it("refuses moving a folder into itself or its subtree, onto an existing name, or from /", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/loop/sub/deeper`, parents: true });
    await mkdir(ctx, alice, { path: `${aliceHome}/loop2`, parents: false });
    const before = [await entryCount(), await changeCount()];
    await expect(
      moveEntry(ctx, alice, { from: `${aliceHome}/loop`, to: `${aliceHome}/loop/sub/deeper/x` }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(moveEntry(ctx, alice, { from: `${aliceHome}/loop`, to: `${aliceHome}/loop/x` })).rejects.toMatchObject(
      { code: "BAD_REQUEST" },
    );
    await expect(moveEntry(ctx, alice, { from: `${aliceHome}/loop`, to: `${aliceHome}/loop2` })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    await expect(moveEntry(ctx, admin, { from: "/", to: "/x" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(moveEntry(ctx, alice, { from: `${aliceHome}/loop`, to: `${aliceHome}/../x` })).rejects.toMatchObject({
      code: "INVALID_PATH",
    });
    expect([await entryCount(), await changeCount()]).toEqual(before);
  });

  it("two crossing folder moves cannot make a cycle", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/cross/x`, parents: true });
    await mkdir(ctx, alice, { path: `${aliceHome}/cross/y`, parents: true });
    const results = await Promise.allSettled([
      moveEntry(ctx, alice, { from: `${aliceHome}/cross/x`, to: `${aliceHome}/cross/y/x` }),
      moveEntry(ctx, alice, { from: `${aliceHome}/cross/y`, to: `${aliceHome}/cross/x/y` }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await names(alice, `${aliceHome}/cross`)).toHaveLength(1);
  });
});

describe("delete, trash and restore", () => {
  it("refuses a non-empty folder without recursive, then trashes it with its contents hidden", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/del/child`, parents: true });
    await expect(deleteEntry(ctx, alice, { path: `${aliceHome}/del`, recursive: false })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("not empty"),
    });
    const item = await deleteEntry(ctx, alice, { path: `${aliceHome}/del`, recursive: true });
    expect(item.originalPath).toBe(`${aliceHome}/del`);
    await expect(listFolder(ctx, alice, { path: `${aliceHome}/del/child` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect(await names(alice, aliceHome)).not.toContain("del");
    const trash = await listTrash(ctx, alice);
    expect(trash.items.map((i) => i.originalPath)).toContain(`${aliceHome}/del`);
    expect((await listTrash(ctx, bob)).items.map((i) => i.id)).not.toContain(item.id);

    // The name is free for a new entry while the old one is in the trash...
    await mkdir(ctx, alice, { path: `${aliceHome}/del`, parents: false });
    await expect(restoreFromTrash(ctx, alice, { id: item.id })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
      message: expect.stringContaining(`${aliceHome}/del`),
    });
    // ...and once it is gone again, restore brings the folder back with its child.
    await deleteEntry(ctx, alice, { path: `${aliceHome}/del`, recursive: false });
    const restored = await restoreFromTrash(ctx, alice, { id: item.id });
    expect(restored.path).toBe(`${aliceHome}/del`);
    expect(await names(alice, `${aliceHome}/del`)).toEqual(["child"]);
    const kinds = (await ctx.prisma.change.findMany({ where: { entryId: item.id }, orderBy: { seq: "asc" } })).map(
      (c) => c.kind,
    );
    expect(kinds).toEqual(["create", "trash", "restore"]);
    expect(
      await ctx.prisma.auditEvent.count({ where: { action: "entry.trash", target: `${aliceHome}/del` } }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("restores an entry deleted before its folder only after the folder", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/outer/inner`, parents: true });
    const inner = await deleteEntry(ctx, alice, { path: `${aliceHome}/outer/inner`, recursive: false });
    const outer = await deleteEntry(ctx, alice, { path: `${aliceHome}/outer`, recursive: false });
    await expect(restoreFromTrash(ctx, alice, { id: inner.id })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("restore that first"),
    });
    await restoreFromTrash(ctx, alice, { id: outer.id });
    expect(await names(alice, `${aliceHome}/outer`)).toEqual([]);
    await restoreFromTrash(ctx, alice, { id: inner.id });
    expect(await names(alice, `${aliceHome}/outer`)).toEqual(["inner"]);
  });

  it("refuses another user's trash item and the root", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/mine`, parents: false });
    const item = await deleteEntry(ctx, alice, { path: `${aliceHome}/mine`, recursive: false });
    await expect(restoreFromTrash(ctx, bob, { id: item.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(restoreFromTrash(ctx, bob, { id: "00000000-0000-4000-8000-00000000abcd" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect((await ctx.prisma.entry.findUniqueOrThrow({ where: { id: item.id } })).trashedAt).not.toBeNull();
    await expect(deleteEntry(ctx, admin, { path: "/", recursive: true })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });
});
