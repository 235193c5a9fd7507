import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { createUser as fixtureUser, testContext } from "../fs/test-fixtures.ts";
import { verifyPassword } from "../auth/passwords.ts";
import { createDeviceToken } from "../auth/device-tokens.ts";
import { authenticateRequest } from "../auth/authenticate.ts";
import { changePassword, listMyDevices, listMySessions, me, signOutEverywhere } from "./account.ts";
import {
  createUser,
  deleteUser,
  getUser,
  listUsers,
  resetPassword,
  revokeDeviceToken,
  setUserDisabled,
  setUserQuota,
  setUserRole,
  unlockUser,
} from "./users.ts";
import { lockoutFor } from "./lockout.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
const PW = "correct horse battery";

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  admin = await fixtureUser(ctx, "root@corp.test", { role: "admin", password: PW });
});
afterAll(async () => {
  await db?.drop();
});

async function session(userId: string, id = crypto.randomUUID()) {
  await ctx.prisma.session.create({
    data: { id, token: crypto.randomUUID(), userId, expiresAt: new Date(Date.now() + 3600_000) },
  });
  return id;
}

describe("users service", () => {
  it("creates a user with an argon2id credential, audited; refuses duplicates and weak passwords", async () => {
    const u = await createUser(
      ctx,
      admin,
      { email: " Carol@Corp.test ", name: "Carol", password: PW, quotaBytes: 1e9 },
      { ip: "10.0.0.1" },
    );
    expect(u).toMatchObject({ email: "carol@corp.test", role: "user", disabled: false, quotaBytes: 1e9 });
    const acc = await ctx.prisma.account.findFirstOrThrow({ where: { userId: u.id, providerId: "credential" } });
    expect(acc.password).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(acc.password!, PW)).toBe(true);
    const ev = await ctx.prisma.auditEvent.findFirstOrThrow({
      where: { action: "user.create", target: "carol@corp.test" },
    });
    expect(ev).toMatchObject({ actor: "root@corp.test", ip: "10.0.0.1" });

    await expect(createUser(ctx, admin, { email: "carol@corp.test", name: "C2", password: PW })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    await expect(createUser(ctx, admin, { email: "dan@corp.test", name: "Dan", password: "short" })).rejects.toThrow(
      /at least 10 characters/,
    );
    await expect(createUser(ctx, admin, { email: "not-an-email", name: "X", password: PW })).rejects.toThrow();
    expect(await ctx.prisma.user.count({ where: { email: { in: ["dan@corp.test", "not-an-email"] } } })).toBe(0);
    expect((await listUsers(ctx, { query: "caro" })).map((x) => x.email)).toEqual(["carol@corp.test"]);
  });

  it("disabling ends sessions and stops device tokens; enabling restores sign-in", async () => {
    const u = await createUser(ctx, admin, { email: "erin@corp.test", name: "Erin", password: PW });
    await session(u.id);
    const dev = await createDeviceToken(ctx, { email: "erin@corp.test", password: PW, deviceName: "laptop" });
    await setUserDisabled(ctx, admin, { id: u.id, disabled: true });
    expect(await ctx.prisma.session.count({ where: { userId: u.id } })).toBe(0);
    await expect(authenticateRequest(ctx, new Headers({ authorization: `Bearer ${dev.token}` }))).rejects.toMatchObject(
      {
        code: "UNAUTHENTICATED",
      },
    );
    await setUserDisabled(ctx, admin, { id: u.id, disabled: false });
    await expect(
      authenticateRequest(ctx, new Headers({ authorization: `Bearer ${dev.token}` })),
    ).resolves.toMatchObject({
      email: "erin@corp.test",
    });
    const actions = (
      await ctx.prisma.auditEvent.findMany({ where: { target: "erin@corp.test", action: { startsWith: "user." } } })
    ).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["user.disable", "user.enable"]));
  });

  it("protects the admin's own account and the last admin", async () => {
    await expect(setUserDisabled(ctx, admin, { id: admin.id, disabled: true })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(deleteUser(ctx, admin, { id: admin.id })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(setUserRole(ctx, admin, { id: admin.id, role: "user" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("last enabled admin"),
    });
    expect((await ctx.prisma.user.findUniqueOrThrow({ where: { id: admin.id } })).role).toBe("admin");
  });

  it("sets roles and quotas, audited with before and after", async () => {
    const u = await createUser(ctx, admin, { email: "frank@corp.test", name: "Frank", password: PW });
    await setUserRole(ctx, admin, { id: u.id, role: "admin" });
    await setUserQuota(ctx, admin, { id: u.id, quotaBytes: 5 * 1024 ** 3 });
    const d = await getUser(ctx, { id: u.id });
    expect(d).toMatchObject({ role: "admin", quotaBytes: 5 * 1024 ** 3, usedBytes: 0 });
    await setUserQuota(ctx, admin, { id: u.id, quotaBytes: null });
    expect((await getUser(ctx, { id: u.id })).quotaBytes).toBeNull();
    const q = await ctx.prisma.auditEvent.findMany({
      where: { action: "user.quota", target: "frank@corp.test" },
      orderBy: { id: "asc" },
    });
    expect(q.map((e) => e.details)).toEqual([
      expect.objectContaining({ before: null, after: 5 * 1024 ** 3 }),
      expect.objectContaining({ before: 5 * 1024 ** 3, after: null }),
    ]);
    // With a second admin, the first one may now step down (and back).
    await setUserRole(ctx, admin, { id: admin.id, role: "user" });
    await setUserRole(ctx, { ...admin, role: "admin" }, { id: admin.id, role: "admin" });
  });

  it("resets a password: the old one stops working, sessions end, a lock-out is lifted", async () => {
    const u = await createUser(ctx, admin, { email: "gina@corp.test", name: "Gina", password: PW });
    await session(u.id);
    for (let i = 0; i < 5; i++) {
      await createDeviceToken(ctx, { email: "gina@corp.test", password: `nope-${i}-nope`, deviceName: "x" }).catch(
        () => undefined,
      );
    }
    expect((await lockoutFor(ctx.prisma, "gina@corp.test")).locked).toBe(true);
    expect((await getUser(ctx, { id: u.id })).lockedUntil).not.toBeNull();
    await resetPassword(ctx, admin, { id: u.id, password: "a brand new passphrase" });
    expect((await lockoutFor(ctx.prisma, "gina@corp.test")).locked).toBe(false);
    expect(await ctx.prisma.session.count({ where: { userId: u.id } })).toBe(0);
    await expect(
      createDeviceToken(ctx, { email: "gina@corp.test", password: PW, deviceName: "x" }),
    ).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
    await expect(
      createDeviceToken(ctx, { email: "gina@corp.test", password: "a brand new passphrase", deviceName: "x" }),
    ).resolves.toBeTruthy();
  });

  it("unlocks a locked-out e-mail on request", async () => {
    const u = await createUser(ctx, admin, { email: "hal@corp.test", name: "Hal", password: PW });
    for (let i = 0; i < 5; i++) {
      await createDeviceToken(ctx, { email: "hal@corp.test", password: `nope-${i}-nope`, deviceName: "x" }).catch(
        () => undefined,
      );
    }
    expect((await lockoutFor(ctx.prisma, "hal@corp.test")).locked).toBe(true);
    await unlockUser(ctx, admin, { id: u.id });
    expect((await lockoutFor(ctx.prisma, "hal@corp.test")).locked).toBe(false);
  });

  it("deletes a user; their files stay without an owner", async () => {
    const u = await createUser(ctx, admin, { email: "ivan@corp.test", name: "Ivan", password: PW });
    const root = await ctx.prisma.entry.create({ data: { name: "", type: "folder" } });
    await ctx.prisma.entry.create({
      data: { parentId: root.id, name: "ivan.txt", liveName: "ivan.txt", type: "file", ownerId: u.id, size: 5n },
    });
    expect((await getUser(ctx, { id: u.id })).usedBytes).toBe(5);
    await deleteUser(ctx, admin, { id: u.id });
    expect(await ctx.prisma.user.count({ where: { id: u.id } })).toBe(0);
    expect((await ctx.prisma.entry.findFirstOrThrow({ where: { name: "ivan.txt" } })).ownerId).toBeNull();
    await expect(getUser(ctx, { id: u.id })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("device tokens: owners and admins may revoke, others get NOT_FOUND", async () => {
    const j = await fixtureUser(ctx, "judy@corp.test", { password: PW });
    const k = await fixtureUser(ctx, "ken@corp.test", { password: PW });
    const dev = await createDeviceToken(ctx, { email: "judy@corp.test", password: PW, deviceName: "phone" });
    await expect(revokeDeviceToken(ctx, k, { id: dev.tokenId })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await ctx.prisma.deviceToken.findUniqueOrThrow({ where: { id: dev.tokenId } })).revokedAt).toBeNull();
    expect(await listMyDevices(ctx, j)).toHaveLength(1);
    await expect(revokeDeviceToken(ctx, j, { id: dev.tokenId })).resolves.toEqual({ revoked: true });
    const dev2 = await createDeviceToken(ctx, { email: "judy@corp.test", password: PW, deviceName: "tablet" });
    await expect(revokeDeviceToken(ctx, admin, { id: dev2.tokenId })).resolves.toEqual({ revoked: true });
    expect((await getUser(ctx, { id: j.id })).deviceTokens.every((d) => d.revokedAt !== null)).toBe(true);
  });
});

describe("own account", () => {
  it("changes the password after checking the current one, ending the other sessions", async () => {
    const u = await fixtureUser(ctx, "liz@corp.test", { password: PW });
    const current = await session(u.id);
    await session(u.id);
    const self = { ...u, sessionId: current };
    await expect(
      changePassword(ctx, self, { currentPassword: "wrong wrong", newPassword: "another passphrase" }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(changePassword(ctx, self, { currentPassword: PW, newPassword: "short" })).rejects.toThrow();
    const r = await changePassword(ctx, self, { currentPassword: PW, newPassword: "another passphrase" });
    expect(r).toEqual({ changed: true, sessionsEnded: 1 });
    expect((await listMySessions(ctx, self)).map((s) => [s.id, s.current])).toEqual([[current, true]]);
    const acc = await ctx.prisma.account.findFirstOrThrow({ where: { userId: u.id } });
    expect(await verifyPassword(acc.password!, "another passphrase")).toBe(true);
    expect((await me(ctx, self)).email).toBe("liz@corp.test");
  });

  it("signs out everywhere", async () => {
    const u = await fixtureUser(ctx, "mia@corp.test", { password: PW });
    await session(u.id);
    await session(u.id);
    expect(await signOutEverywhere(ctx, u)).toEqual({ sessionsEnded: 2 });
    expect(await ctx.prisma.session.count({ where: { userId: u.id } })).toBe(0);
    expect(
      await ctx.prisma.auditEvent.count({ where: { action: "signout.everywhere", target: "mia@corp.test" } }),
    ).toBe(1);
  });
});
