import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { ZCreateDeviceTokenResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { createUser, testContext } from "../fs/test-fixtures.ts";
import { authenticateRequest } from "./authenticate.ts";
import { createDeviceToken, hashDeviceToken, revokeCurrentDeviceToken } from "./device-tokens.ts";
import { LOCKOUT_MAX_FAILURES as SIGNIN_MAX_FAILURES } from "../users/lockout.ts";

let db: TestDatabase;
let ctx: ControlContext;
const PASSWORD = "correct horse battery";

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  await createUser(ctx, "alice@corp.test", { password: PASSWORD });
  await createUser(ctx, "root@corp.test", { password: PASSWORD, role: "admin" });
  await createUser(ctx, "gone@corp.test", { password: PASSWORD, disabled: true });
});
afterAll(async () => {
  await db?.drop();
});

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });

describe("device tokens", () => {
  it("issues a cmd_ token for the right password, stores only its hash, and authenticates with it", async () => {
    const res = ZCreateDeviceTokenResponse.parse(
      await createDeviceToken(
        ctx,
        { email: " Alice@Corp.test ", password: PASSWORD, deviceName: "laptop" },
        { ip: "10.0.0.1" },
      ),
    );
    expect(res.token).toMatch(/^cmd_[A-Za-z0-9_-]{43}$/);
    expect(res.user).toMatchObject({ email: "alice@corp.test", role: "user" });
    const row = await ctx.prisma.deviceToken.findUniqueOrThrow({ where: { id: res.tokenId } });
    expect(row.tokenHash).toBe(hashDeviceToken(res.token));
    expect(JSON.stringify(row)).not.toContain(res.token.slice(4));

    const user = await authenticateRequest(ctx, bearer(res.token));
    expect(user).toMatchObject({ id: res.user.id, email: "alice@corp.test", role: "user", tokenId: res.tokenId });
    const used = await ctx.prisma.deviceToken.findUniqueOrThrow({ where: { id: res.tokenId } });
    expect(used.lastUsedAt).not.toBeNull();
    // lastUsedAt is written at most once a minute.
    await authenticateRequest(ctx, bearer(res.token), new Date(used.lastUsedAt!.getTime() + 30_000));
    expect((await ctx.prisma.deviceToken.findUniqueOrThrow({ where: { id: res.tokenId } })).lastUsedAt).toEqual(
      used.lastUsedAt,
    );
    await authenticateRequest(ctx, bearer(res.token), new Date(used.lastUsedAt!.getTime() + 61_000));
    expect((await ctx.prisma.deviceToken.findUniqueOrThrow({ where: { id: res.tokenId } })).lastUsedAt!.getTime()).toBe(
      used.lastUsedAt!.getTime() + 61_000,
    );
  });

  it("refuses a wrong password and an unknown e-mail alike, with an audit event", async () => {
    const before = await ctx.prisma.deviceToken.count();
    await expect(
      createDeviceToken(ctx, { email: "alice@corp.test", password: "wrong", deviceName: "x" }, { ip: "10.0.0.2" }),
    ).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: "wrong email or password",
    });
    await expect(
      createDeviceToken(ctx, { email: "nobody@corp.test", password: "wrong", deviceName: "x" }, { ip: "10.0.0.2" }),
    ).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: "wrong email or password",
    });
    expect(await ctx.prisma.deviceToken.count()).toBe(before);
    const events = await ctx.prisma.auditEvent.findMany({ where: { action: "signin.failed", ip: "10.0.0.2" } });
    expect(events.map((e) => e.target).sort()).toEqual(["alice@corp.test", "nobody@corp.test"]);
  });

  it("refuses a disabled account even with the right password", async () => {
    await expect(
      createDeviceToken(ctx, { email: "gone@corp.test", password: PASSWORD, deviceName: "x" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("locks an e-mail out after SIGNIN_MAX_FAILURES failures, from every address, until the window passes", async () => {
    for (let i = 0; i < SIGNIN_MAX_FAILURES; i++) {
      await expect(
        createDeviceToken(ctx, { email: "root@corp.test", password: "guess" + i, deviceName: "x" }, { ip: "10.9.9.9" }),
      ).rejects.toMatchObject({
        code: "UNAUTHENTICATED",
      });
    }
    // Even the right password is refused now, from that address and from any other
    // (the lock-out is per e-mail and kept in the database: see users/lockout.ts)...
    await expect(
      createDeviceToken(ctx, { email: "root@corp.test", password: PASSWORD, deviceName: "x" }, { ip: "10.9.9.9" }),
    ).rejects.toMatchObject({
      code: "RATE_LIMITED",
      message: expect.stringMatching(/^Too many attempts: try again in 1[45] minutes/),
    });
    await expect(
      createDeviceToken(ctx, { email: "root@corp.test", password: PASSWORD, deviceName: "x" }, { ip: "10.1.1.1" }),
    ).rejects.toMatchObject({ code: "RATE_LIMITED" });
    // ...but not after the window.
    await expect(
      createDeviceToken(
        ctx,
        { email: "root@corp.test", password: PASSWORD, deviceName: "x" },
        { ip: "10.9.9.9", now: new Date(Date.now() + 16 * 60_000) },
      ),
    ).resolves.toBeTruthy();
    expect(await ctx.prisma.auditEvent.count({ where: { action: "signin.locked", target: "root@corp.test" } })).toBe(1);
  });

  it("refuses missing, malformed, unknown, revoked and expired tokens with 401 codes", async () => {
    const res = await createDeviceToken(ctx, { email: "alice@corp.test", password: PASSWORD, deviceName: "phone" });
    await expect(authenticateRequest(ctx, new Headers())).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await expect(authenticateRequest(ctx, new Headers({ authorization: "Basic abc" }))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
    await expect(authenticateRequest(ctx, bearer("cmd_short"))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: expect.stringContaining("malformed"),
    });
    await expect(authenticateRequest(ctx, bearer("cmd_" + "A".repeat(43)))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: expect.stringContaining("unknown"),
    });

    const user = await authenticateRequest(ctx, bearer(res.token));
    await expect(revokeCurrentDeviceToken(ctx, user)).resolves.toEqual({ revoked: true });
    await expect(authenticateRequest(ctx, bearer(res.token))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: expect.stringContaining("revoked"),
    });

    const other = await createDeviceToken(ctx, { email: "alice@corp.test", password: PASSWORD, deviceName: "tablet" });
    await ctx.prisma.deviceToken.update({
      where: { id: other.tokenId },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    await expect(authenticateRequest(ctx, bearer(other.token))).rejects.toMatchObject({ code: "TOKEN_EXPIRED" });

    const third = await createDeviceToken(ctx, { email: "alice@corp.test", password: PASSWORD, deviceName: "desk" });
    await ctx.prisma.user.update({ where: { email: "alice@corp.test" }, data: { disabled: true } });
    await expect(authenticateRequest(ctx, bearer(third.token))).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: expect.stringContaining("disabled"),
    });
    await ctx.prisma.user.update({ where: { email: "alice@corp.test" }, data: { disabled: false } });
  });
});
