import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { createUser, testContext } from "../fs/test-fixtures.ts";
import { createDeviceToken } from "../auth/device-tokens.ts";
import { authenticate } from "../auth/authenticate.ts";
import { assertIpAllowed, createIpRule, decideIp, deleteIpRule, listIpRules, testIpAddress } from "./ip-rules.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let groupId: string;
const PW = "correct horse battery";

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  admin = await createUser(ctx, "root@corp.test", { role: "admin", password: PW });
  alice = await createUser(ctx, "alice@corp.test", { password: PW });
  bob = await createUser(ctx, "bob@corp.test", { password: PW });
  groupId = (await ctx.prisma.group.create({ data: { name: "travel" } })).id;
  await ctx.prisma.groupMember.create({ data: { groupId, userId: bob.id } });
});
afterAll(async () => {
  await db?.drop();
});

describe("IP rules service", () => {
  it("validates and normalizes CIDRs, refuses duplicates, audits", async () => {
    await expect(createIpRule(ctx, admin, { cidr: "10.0.0.0/40", action: "deny" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(
      createIpRule(ctx, admin, { cidr: "10.0.0.1", action: "deny", userId: alice.id, groupId }),
    ).rejects.toThrow();
    const r = await createIpRule(
      ctx,
      admin,
      { cidr: "198.51.100.77/24", action: "deny", userId: alice.id },
      { ip: "10.0.0.1" },
    );
    expect(r).toMatchObject({ cidr: "198.51.100.0/24", action: "deny", scope: "user", userEmail: "alice@corp.test" });
    await expect(
      createIpRule(ctx, admin, { cidr: "198.51.100.0/24", action: "deny", userId: alice.id }),
    ).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    expect(await ctx.prisma.auditEvent.count({ where: { action: "ip-rule.create", target: "alice@corp.test" } })).toBe(
      1,
    );
  });

  it("applies user, group and global rules in order, and the test box agrees", async () => {
    await createIpRule(ctx, admin, { cidr: "203.0.113.0/24", action: "allow", groupId });
    await createIpRule(ctx, admin, { cidr: "203.0.113.0/24", action: "deny" }, { ip: "10.0.0.1" });
    // Everyone from 203.0.113.x is denied, except the travel group.
    expect((await decideIp(ctx.prisma, null, "203.0.113.5")).allowed).toBe(false);
    expect((await decideIp(ctx.prisma, admin.id, "203.0.113.5")).allowed).toBe(false);
    expect((await decideIp(ctx.prisma, bob.id, "203.0.113.5")).allowed).toBe(true);
    // Bob's group has an allow list: elsewhere he is refused.
    expect((await decideIp(ctx.prisma, bob.id, "192.0.2.1")).allowed).toBe(false);
    expect((await decideIp(ctx.prisma, alice.id, "198.51.100.9")).allowed).toBe(false);
    expect((await decideIp(ctx.prisma, alice.id, "192.0.2.1")).allowed).toBe(true);
    expect(await testIpAddress(ctx, { ip: "::ffff:203.0.113.5", userId: bob.id })).toMatchObject({
      allowed: true,
      ip: "203.0.113.5",
      user: "bob@corp.test",
      reason: expect.stringContaining("group travel"),
    });
    expect(await testIpAddress(ctx, { ip: "203.0.113.5" })).toMatchObject({ allowed: false, user: null });
    await expect(testIpAddress(ctx, { ip: "banana" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("refuses a rule that would lock the acting admin out, unless forced", async () => {
    await expect(
      createIpRule(ctx, admin, { cidr: "10.0.0.0/8", action: "deny" }, { ip: "10.1.2.3" }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("would refuse your own address (10.1.2.3)"),
    });
    await expect(
      createIpRule(ctx, admin, { cidr: "172.16.0.0/12", action: "allow" }, { ip: "10.1.2.3" }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
    });
    // A rule for someone else is fine.
    await expect(
      createIpRule(ctx, admin, { cidr: "10.0.0.0/8", action: "deny", userId: alice.id }, { ip: "10.1.2.3" }),
    ).resolves.toBeTruthy();
    const forced = await createIpRule(
      ctx,
      admin,
      { cidr: "10.0.0.0/8", action: "deny", force: true },
      { ip: "10.1.2.3" },
    );
    expect((await decideIp(ctx.prisma, admin.id, "10.1.2.3")).allowed).toBe(false);
    await deleteIpRule(ctx, admin, { id: forced.id });
    expect((await decideIp(ctx.prisma, admin.id, "10.1.2.3")).allowed).toBe(true);
  });

  it("denies sign-in and authenticated requests from a denied address, audited", async () => {
    const dev = await createDeviceToken(
      ctx,
      { email: "alice@corp.test", password: PW, deviceName: "cli" },
      { ip: "192.0.2.50" },
    );
    const headers = new Headers({ authorization: `Bearer ${dev.token}` });
    await expect(authenticate(ctx, headers, { ip: "192.0.2.50" })).resolves.toMatchObject({ email: "alice@corp.test" });
    await expect(authenticate(ctx, headers, { ip: "10.9.9.9" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("10.9.9.9"),
    });
    await expect(
      createDeviceToken(ctx, { email: "alice@corp.test", password: PW, deviceName: "cli" }, { ip: "10.9.9.9" }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(assertIpAllowed(ctx, null, "203.0.113.8", "public")).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await ctx.prisma.auditEvent.count({ where: { action: "ip.denied", ip: "10.9.9.9" } })).toBe(1);
    expect(
      await ctx.prisma.auditEvent.count({ where: { action: "signin.failed", ip: "10.9.9.9", outcome: "denied" } }),
    ).toBe(1);
    const rules = await listIpRules(ctx);
    expect(rules.length).toBeGreaterThanOrEqual(4);
  });
});
