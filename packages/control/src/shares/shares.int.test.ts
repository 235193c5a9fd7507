import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { listFolder } from "../fs/list.ts";
import { statEntry } from "../fs/stat.ts";
import { deleteEntry } from "../fs/delete.ts";
import { moveEntry } from "../fs/move.ts";
import { listTrash, restoreFromTrash } from "../fs/trash.ts";
import { purgeEntry } from "../fs/purge.ts";
import { planDownload } from "../downloads/plan-download.ts";
import { beginUpload } from "../uploads/begin-upload.ts";
import { listChanges } from "../changes/list-changes.ts";
import { searchByName } from "../search/search.ts";
import { addNode, createUser, fakeChunk, manifest, testContext, upload, type TestNode } from "../fs/test-fixtures.ts";
import { grantShare, listGrants, revokeShare, sharedWithMe, suggestPrincipals, SuggestLimiter } from "./grants.ts";
import {
  authorizeShareLink,
  countLinkDownload,
  createShareLink,
  hashLinkToken,
  linkTarget,
  listLinkFolder,
  listShareLinks,
  openShareLink,
  resetLinkThrottle,
  revokeShareLink,
  unlockShareLink,
  LINK_MAX_FAILURES,
} from "./links.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let carol: AuthUser;
let aliceHome: string;
let bobHome: string;
let nodes: TestNode[];

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 1 });
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  carol = await createUser(ctx, "carol@corp.test");
  aliceHome = (await whoami(ctx, alice)).home;
  bobHome = (await whoami(ctx, bob)).home;
  await whoami(ctx, carol);
  nodes = [await addNode(ctx, "hq-1", "hq")];
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(() => resetLinkThrottle());

const user = (email: string) => ({ type: "user" as const, email });
const auditCount = (action: string) => ctx.prisma.auditEvent.count({ where: { action } });

describe("sharing with users and groups", () => {
  it("a read share lets bob list, stat and download, but not write; nothing else of alice's is visible", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/projects/apollo`, parents: true });
    await mkdir(ctx, alice, { path: `${aliceHome}/private`, parents: false });
    await upload(ctx, alice, nodes, `${aliceHome}/projects/apollo/plan.txt`, [fakeChunk(10)]);
    await upload(ctx, alice, nodes, `${aliceHome}/private/diary.txt`, [fakeChunk(10)]);

    // Before the share bob sees nothing of it and cannot fetch it.
    await expect(listFolder(ctx, bob, { path: `${aliceHome}/projects` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(planDownload(ctx, bob, { path: `${aliceHome}/projects/apollo/plan.txt` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });

    const grants = await grantShare(ctx, alice, {
      path: `${aliceHome}/projects`,
      principal: user("bob@corp.test"),
      permission: "read",
    });
    expect(grants.grants).toHaveLength(1);
    expect(grants.grants[0]).toMatchObject({
      principal: { type: "user", email: "bob@corp.test" },
      permission: "read",
      inherited: false,
    });
    expect(await auditCount("share.grant")).toBe(1);

    const listing = await listFolder(ctx, bob, { path: `${aliceHome}/projects` });
    expect(listing.entries.map((e) => e.name)).toEqual(["apollo"]);
    const stat = await statEntry(ctx, bob, { path: `${aliceHome}/projects/apollo/plan.txt` });
    expect(stat.size).toBe(10);
    const plan = await planDownload(ctx, bob, { path: `${aliceHome}/projects/apollo/plan.txt` });
    expect(plan.chunks).toHaveLength(1);
    // The way there shows only what leads to the share.
    const home = await listFolder(ctx, bob, { path: aliceHome });
    expect(home.entries.map((e) => e.name)).toEqual(["projects"]);
    await expect(listFolder(ctx, bob, { path: `${aliceHome}/private` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(planDownload(ctx, bob, { path: `${aliceHome}/private/diary.txt` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });

    // Read-only: no upload, mkdir, rename, delete, nor re-sharing.
    await expect(
      beginUpload(ctx, bob, { path: `${aliceHome}/projects/new.txt`, ...manifest([fakeChunk(5)]), baseVersion: null }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      beginUpload(ctx, bob, {
        path: `${aliceHome}/projects/apollo/plan.txt`,
        ...manifest([fakeChunk(5)]),
        baseVersion: 1,
      }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(mkdir(ctx, bob, { path: `${aliceHome}/projects/x`, parents: false })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(
      moveEntry(ctx, bob, { from: `${aliceHome}/projects/apollo`, to: `${aliceHome}/projects/apollo2` }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      deleteEntry(ctx, bob, { path: `${aliceHome}/projects/apollo/plan.txt`, recursive: false }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(
      grantShare(ctx, bob, { path: `${aliceHome}/projects`, principal: user("carol@corp.test"), permission: "read" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(createShareLink(ctx, bob, { path: `${aliceHome}/projects` })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    // Carol, who got nothing, still sees nothing.
    await expect(listFolder(ctx, carol, { path: `${aliceHome}/projects` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });

    // Grants are visible to bob (read) but he cannot manage them.
    const seen = await listGrants(ctx, bob, { path: `${aliceHome}/projects/apollo` });
    expect(seen.canManage).toBe(false);
    expect(seen.grants[0]).toMatchObject({ inherited: true, on: `${aliceHome}/projects` });
  });

  it("upgrading to write lets bob upload into the shared folder; granting again does not duplicate", async () => {
    await grantShare(ctx, alice, {
      path: `${aliceHome}/projects`,
      principal: user(" Bob@Corp.test "),
      permission: "write",
    });
    const grants = await listGrants(ctx, alice, { path: `${aliceHome}/projects` });
    expect(grants.grants).toHaveLength(1);
    expect(grants.grants[0]!.permission).toBe("write");
    const up = await upload(ctx, bob, nodes, `${aliceHome}/projects/from-bob.txt`, [fakeChunk(7)]);
    expect(up.entry.owner).toBe("bob@corp.test");
    // Still no manage: no re-share.
    await expect(
      grantShare(ctx, bob, { path: `${aliceHome}/projects`, principal: user("carol@corp.test"), permission: "read" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("shares through a group and shows both in Shared with me with who shared and the permission", async () => {
    const group = await ctx.prisma.group.create({ data: { name: "design" } });
    await ctx.prisma.groupMember.create({ data: { groupId: group.id, userId: carol.id } });
    await ctx.prisma.groupMember.create({ data: { groupId: group.id, userId: bob.id } });
    await mkdir(ctx, alice, { path: `${aliceHome}/brand`, parents: false });
    await grantShare(ctx, alice, {
      path: `${aliceHome}/brand`,
      principal: { type: "group", name: "design" },
      permission: "write",
    });
    const carols = await sharedWithMe(ctx, carol);
    expect(carols.items.map((i) => [i.path, i.permission, i.sharedBy, i.via])).toEqual([
      [`${aliceHome}/brand`, "write", "alice@corp.test", ["group design"]],
    ]);
    const bobs = await sharedWithMe(ctx, bob);
    expect(bobs.items.map((i) => [i.name, i.permission]).sort()).toEqual([
      ["brand", "write"],
      ["projects", "write"],
    ]);
    expect((await listFolder(ctx, carol, { path: `${aliceHome}/brand` })).entries).toEqual([]);
    await upload(ctx, carol, nodes, `${aliceHome}/brand/logo.svg`, [fakeChunk(3)]);

    // A trashed share disappears from Shared with me and comes back with restore.
    const trashed = await deleteEntry(ctx, alice, { path: `${aliceHome}/brand`, recursive: true });
    expect((await sharedWithMe(ctx, carol)).items).toEqual([]);
    await restoreFromTrash(ctx, alice, { id: trashed.id });
    expect((await sharedWithMe(ctx, carol)).items).toHaveLength(1);

    // Carol shares "design" with bob, so she is suggested bob and her group; alice,
    // outside it, only gets exact answers.
    const carolSees = await suggestPrincipals(ctx, carol, { q: "" });
    expect(carolSees.users.map((u) => u.email)).toEqual(["bob@corp.test"]);
    expect(carolSees.groups.map((g) => g.name)).toEqual(["design"]);
    expect((await suggestPrincipals(ctx, alice, { q: "des" })).groups).toEqual([]);
    expect((await suggestPrincipals(ctx, alice, { q: "design" })).groups.map((g) => g.name)).toEqual(["design"]);
    expect((await suggestPrincipals(ctx, alice, { q: "CAR" })).users).toEqual([]);
    expect((await suggestPrincipals(ctx, alice, { q: "Carol@Corp.test" })).users.map((u) => u.email)).toEqual([
      "carol@corp.test",
    ]);
  });

  it("revoking removes access at once, with an audit event; unknown principals and owners are refused", async () => {
    const before = await listGrants(ctx, alice, { path: `${aliceHome}/projects` });
    const grant = before.grants.find((g) => g.principal.type === "user" && g.principal.email === "bob@corp.test")!;
    const after = await revokeShare(ctx, alice, { path: `${aliceHome}/projects`, grantId: grant.id });
    expect(after.grants).toEqual([]);
    expect(await auditCount("share.revoke")).toBe(1);
    // What bob uploaded there stays his (owners keep their entries); alice's are out of sight again.
    const left = await listFolder(ctx, bob, { path: `${aliceHome}/projects` });
    expect(left.entries.map((e) => e.name)).toEqual(["from-bob.txt"]);
    await expect(listFolder(ctx, bob, { path: `${aliceHome}/projects/apollo` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect((await sharedWithMe(ctx, bob)).items.map((i) => i.name)).toEqual(["brand"]);
    // Inherited grants are revoked where they were made.
    await expect(
      revokeShare(ctx, alice, { path: `${aliceHome}/projects/apollo`, grantId: grant.id }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      grantShare(ctx, alice, {
        path: `${aliceHome}/projects`,
        principal: user("nobody@corp.test"),
        permission: "read",
      }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      grantShare(ctx, alice, { path: `${aliceHome}/projects`, principal: user("alice@corp.test"), permission: "read" }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("filters the change feed by the same rule: bob follows a shared folder only while it is shared", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/feed`, parents: false });
    const start = (await listChanges(ctx, admin, { cursor: "0", limit: "1000" })).cursor;
    const g = await grantShare(ctx, alice, {
      path: `${aliceHome}/feed`,
      principal: user("bob@corp.test"),
      permission: "read",
    });
    await mkdir(ctx, alice, { path: `${aliceHome}/feed/one`, parents: false });
    await mkdir(ctx, alice, { path: `${aliceHome}/private/secret`, parents: false });
    const seen = await listChanges(ctx, bob, { cursor: String(start) });
    expect(seen.changes.map((c) => c.path)).toEqual([`${aliceHome}/feed/one`]);
    expect((await listChanges(ctx, carol, { cursor: String(start) })).changes).toEqual([]);
    await revokeShare(ctx, alice, { path: `${aliceHome}/feed`, grantId: g.grants[0]!.id });
    const cursor = seen.cursor;
    await mkdir(ctx, alice, { path: `${aliceHome}/feed/two`, parents: false });
    expect((await listChanges(ctx, bob, { cursor: String(cursor) })).changes).toEqual([]);
  });
});

describe("share links", () => {
  it("creates a link whose token is shown once and stored only as a hash", async () => {
    await upload(ctx, alice, nodes, `${aliceHome}/report.pdf`, [fakeChunk(20)]);
    const created = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf` });
    expect(created.token).toMatch(/^csl_[A-Za-z0-9_-]{43}$/);
    expect(created.url).toBe(`/s/${created.token}`);
    const row = await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: created.link.id } });
    expect(row.tokenHash).toBe(hashLinkToken(created.token));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(4));
    expect(await auditCount("link.create")).toBeGreaterThanOrEqual(1);

    const open = await authorizeShareLink(ctx, created.token, null);
    expect(open.entry.name).toBe("report.pdf");
    expect(await countLinkDownload(ctx, open, { path: "/", kind: "file" })).toBe(1);
    expect((await listShareLinks(ctx, alice, { path: `${aliceHome}/report.pdf` })).links[0]).toMatchObject({
      downloadCount: 1,
      state: "ok",
      hasPassword: false,
    });
    await expect(openShareLink(ctx, "csl_" + "A".repeat(43))).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(openShareLink(ctx, "garbage")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses a wrong password and changes nothing; the right one gives a grant for that link only", async () => {
    const a = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf`, password: "open sesame" });
    const b = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf`, password: "open sesame" });
    const row = await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: a.link.id } });
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);

    await expect(authorizeShareLink(ctx, a.token, null)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await expect(unlockShareLink(ctx, a.token, "wrong")).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect((await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: a.link.id } })).downloadCount).toBe(0);
    expect(await ctx.prisma.auditEvent.count({ where: { action: "link.unlock", outcome: "failed" } })).toBe(1);

    const { grant } = await unlockShareLink(ctx, a.token, "open sesame");
    const open = await authorizeShareLink(ctx, a.token, grant);
    expect(open.link.id).toBe(a.link.id);
    // A grant for one link does not open another, and a forged one opens nothing.
    await expect(authorizeShareLink(ctx, b.token, grant)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await expect(authorizeShareLink(ctx, a.token, grant.slice(0, -4) + "AAAA")).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });

    for (let i = 0; i < LINK_MAX_FAILURES; i++) {
      await expect(unlockShareLink(ctx, b.token, `guess ${i}`, { ip: "10.0.0.9" })).rejects.toMatchObject({
        code: "UNAUTHENTICATED",
      });
    }
    await expect(unlockShareLink(ctx, b.token, "open sesame", { ip: "10.0.0.9" })).rejects.toMatchObject({
      code: "RATE_LIMITED",
    });
  });

  it("refuses an expired link and a link over its download limit, counting nothing more", async () => {
    const soon = new Date(Date.now() + 60_000);
    const e = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf`, expiresAt: soon.toISOString() });
    await expect(authorizeShareLink(ctx, e.token, null, new Date(soon.getTime() + 1))).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("expired"),
    });
    await expect(
      createShareLink(ctx, alice, {
        path: `${aliceHome}/report.pdf`,
        expiresAt: new Date(Date.now() - 1000).toISOString(),
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });

    const l = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf`, maxDownloads: 2 });
    const open = await authorizeShareLink(ctx, l.token, null);
    // Two racing for the last download: exactly one wins.
    await countLinkDownload(ctx, open, { path: "/", kind: "file" });
    const race = await Promise.allSettled([
      countLinkDownload(ctx, open, { path: "/", kind: "file" }),
      countLinkDownload(ctx, open, { path: "/", kind: "file" }),
    ]);
    expect(race.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: l.link.id } })).downloadCount).toBe(2);
    await expect(authorizeShareLink(ctx, l.token, null)).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("download limit"),
    });
    expect((await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: l.link.id } })).downloadCount).toBe(2);
    expect(await ctx.prisma.auditEvent.count({ where: { action: "link.download", outcome: "denied" } })).toBe(1);
  });

  it("revocation and trashing stop a link; only a manager can revoke", async () => {
    const l = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf` });
    await expect(revokeShareLink(ctx, bob, { id: l.link.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const revoked = await revokeShareLink(ctx, alice, { id: l.link.id });
    expect(revoked.state).toBe("revoked");
    await expect(authorizeShareLink(ctx, l.token, null)).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("revoked"),
    });
    expect(await auditCount("link.revoke")).toBe(1);

    const m = await createShareLink(ctx, alice, { path: `${aliceHome}/report.pdf` });
    const t = await deleteEntry(ctx, alice, { path: `${aliceHome}/report.pdf`, recursive: false });
    expect((await openShareLink(ctx, m.token)).state).toBe("missing");
    await expect(authorizeShareLink(ctx, m.token, null)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await restoreFromTrash(ctx, alice, { id: t.id });
    expect((await openShareLink(ctx, m.token)).state).toBe("ok");
  });

  it("a folder link lists and reaches only what is inside the folder", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/pub/sub`, parents: true });
    await upload(ctx, alice, nodes, `${aliceHome}/pub/sub/a.txt`, [fakeChunk(4)]);
    const l = await createShareLink(ctx, alice, { path: `${aliceHome}/pub` });
    const open = await authorizeShareLink(ctx, l.token, null);
    expect((await listLinkFolder(ctx, open, "/")).entries.map((e) => [e.name, e.path])).toEqual([["sub", "/sub"]]);
    expect((await listLinkFolder(ctx, open, "/sub")).entries.map((e) => e.name)).toEqual(["a.txt"]);
    expect((await linkTarget(ctx, open, "/sub/a.txt")).name).toBe("a.txt");
    await expect(linkTarget(ctx, open, "/../private")).rejects.toMatchObject({ code: "INVALID_PATH" });
    await expect(linkTarget(ctx, open, "/nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("search", () => {
  it("finds names the user can read, case-insensitively, with % and _ taken literally, paginated", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/search`, parents: false });
    for (let i = 0; i < 5; i++) await mkdir(ctx, alice, { path: `${aliceHome}/search/Budget-${i}`, parents: false });
    await mkdir(ctx, alice, { path: `${aliceHome}/search/100%_done`, parents: false });
    await mkdir(ctx, bob, { path: `${bobHome}/budget-bob`, parents: false });

    const page1 = await searchByName(ctx, alice, { q: "budget", limit: 3 });
    expect(page1.entries.map((e) => e.name)).toEqual(["Budget-0", "Budget-1", "Budget-2"]);
    expect(page1.entries[0]!.path).toBe(`${aliceHome}/search/Budget-0`);
    expect(page1.nextOffset).toBe(3);
    const page2 = await searchByName(ctx, alice, { q: "budget", limit: 3, offset: 3 });
    expect(page2.entries.map((e) => e.name)).toEqual(["Budget-3", "Budget-4"]);
    expect(page2.nextOffset).toBeNull();

    expect((await searchByName(ctx, alice, { q: "%_" })).entries.map((e) => e.name)).toEqual(["100%_done"]);
    expect((await searchByName(ctx, alice, { q: "0%" })).entries.map((e) => e.name)).toEqual(["100%_done"]);
    // Bob's own folder, not alice's; carol nothing.
    expect((await searchByName(ctx, bob, { q: "budget" })).entries.map((e) => e.path)).toEqual([
      `${bobHome}/budget-bob`,
    ]);
    expect((await searchByName(ctx, carol, { q: "budget" })).entries).toEqual([]);
    // Admins search everything.
    expect((await searchByName(ctx, admin, { q: "budget" })).entries).toHaveLength(6);
    // Within a folder.
    const within = await searchByName(ctx, alice, { q: "budget-4", within: `${aliceHome}/search` });
    expect(within.entries.map((e) => e.name)).toEqual(["Budget-4"]);
    await expect(searchByName(ctx, carol, { q: "x", within: `${aliceHome}/search` })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("includes what is shared with the user and leaves out trashed entries", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/search/shared-plans`, parents: false });
    await mkdir(ctx, alice, { path: `${aliceHome}/search/shared-plans/Budget-shared`, parents: false });
    await grantShare(ctx, alice, {
      path: `${aliceHome}/search/shared-plans`,
      principal: user("carol@corp.test"),
      permission: "read",
    });
    expect((await searchByName(ctx, carol, { q: "budget" })).entries.map((e) => e.path)).toEqual([
      `${aliceHome}/search/shared-plans/Budget-shared`,
    ]);
    await deleteEntry(ctx, alice, { path: `${aliceHome}/search/Budget-4`, recursive: false });
    expect((await searchByName(ctx, alice, { q: "budget-4" })).entries).toEqual([]);
    await deleteEntry(ctx, alice, { path: `${aliceHome}/search/shared-plans`, recursive: true });
    expect((await searchByName(ctx, carol, { q: "budget" })).entries).toEqual([]);
  });
});

describe("purge", () => {
  it("deletes a trashed folder and its contents for good, with a purge change; needs write where it was", async () => {
    await mkdir(ctx, alice, { path: `${aliceHome}/old/deep`, parents: true });
    await upload(ctx, alice, nodes, `${aliceHome}/old/deep/f.bin`, [fakeChunk(11)]);
    await upload(ctx, alice, nodes, `${aliceHome}/old/deep/f.bin`, [fakeChunk(12)], { baseVersion: 1 });
    const folder = await statEntry(ctx, alice, { path: `${aliceHome}/old` });
    await ctx.prisma.aclEntry.create({ data: { entryId: folder.entry.id, userId: carol.id, permission: "read" } });
    await createShareLink(ctx, alice, { path: `${aliceHome}/old` });
    const trashed = await deleteEntry(ctx, alice, { path: `${aliceHome}/old`, recursive: true });
    const cursor = (await listChanges(ctx, alice, { cursor: "0", limit: "1000" })).cursor;

    await expect(purgeEntry(ctx, bob, { id: trashed.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(purgeEntry(ctx, carol, { id: trashed.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const chunksBefore = await ctx.prisma.chunk.count();
    const out = await purgeEntry(ctx, alice, { id: trashed.id });
    expect(out).toMatchObject({ path: `${aliceHome}/old`, entries: 3 });
    expect(await ctx.prisma.entry.count({ where: { id: trashed.id } })).toBe(0);
    expect(await ctx.prisma.fileVersion.count({ where: { entry: { name: "f.bin" } } })).toBe(0);
    expect(await ctx.prisma.aclEntry.count({ where: { entryId: folder.entry.id } })).toBe(0);
    expect(await ctx.prisma.shareLink.count({ where: { entryId: folder.entry.id } })).toBe(0);
    // Chunks wait for garbage collection.
    expect(await ctx.prisma.chunk.count()).toBe(chunksBefore);
    expect((await listTrash(ctx, alice)).items.map((i) => i.id)).not.toContain(trashed.id);
    const feed = await listChanges(ctx, alice, { cursor: String(cursor) });
    expect(feed.changes.map((c) => [c.kind, c.path])).toEqual([["purge", `${aliceHome}/old`]]);
    expect(await auditCount("entry.purge")).toBe(1);
    // Twice: gone.
    await expect(purgeEntry(ctx, alice, { id: trashed.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
    // A live entry cannot be purged.
    const live = await mkdir(ctx, alice, { path: `${aliceHome}/keep`, parents: false });
    await expect(purgeEntry(ctx, alice, { id: live.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("share suggestions do not hand out the user directory", () => {
  it("a normal user sees no one for an empty or partial query, only exact e-mails, and is rate-limited", async () => {
    const dave = await createUser(ctx, "dave@corp.test");
    await createUser(ctx, "erin.secret@corp.test");
    const empty = await suggestPrincipals(ctx, dave, { q: "" });
    expect(empty).toEqual({ users: [], groups: [] });
    for (const q of ["e", "corp", "@corp.test", "erin", "secret"]) {
      expect((await suggestPrincipals(ctx, dave, { q })).users, q).toEqual([]);
    }
    const exact = await suggestPrincipals(ctx, dave, { q: " ERIN.secret@corp.test " });
    expect(exact.users.map((u) => u.email)).toEqual(["erin.secret@corp.test"]);
    // Admins manage every account: they get substring matches.
    expect((await suggestPrincipals(ctx, admin, { q: "secret" })).users.map((u) => u.email)).toEqual([
      "erin.secret@corp.test",
    ]);

    const limiter = new SuggestLimiter(3, 60_000);
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) await suggestPrincipals(ctx, dave, { q: "x" }, { limiter, now: t0 + i });
    await expect(suggestPrincipals(ctx, dave, { q: "x" }, { limiter, now: t0 + 10 })).rejects.toMatchObject({
      code: "RATE_LIMITED",
      message: expect.stringMatching(/wait 60 s/),
    });
    // Per user, and the window passes.
    await expect(suggestPrincipals(ctx, alice, { q: "x" }, { limiter, now: t0 + 10 })).resolves.toBeTruthy();
    await expect(suggestPrincipals(ctx, dave, { q: "x" }, { limiter, now: t0 + 60_001 })).resolves.toBeTruthy();
    // A bad query is refused before it counts.
    await expect(suggestPrincipals(ctx, dave, { q: "y".repeat(201) }, { limiter })).rejects.toThrow();
  });
});
