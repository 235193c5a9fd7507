import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { createUser, testContext } from "../fs/test-fixtures.ts";
import { addGroupMember, createGroup, deleteGroup, getGroup, listGroups, removeGroupMember } from "./groups.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
});
afterAll(async () => {
  await db?.drop();
});

describe("groups service", () => {
  it("creates, lists, adds and removes members, deletes — audited", async () => {
    const g = await createGroup(ctx, admin, { name: " engineering " });
    expect(g).toMatchObject({ name: "engineering", members: 0 });
    await expect(createGroup(ctx, admin, { name: "engineering" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await expect(createGroup(ctx, admin, { name: "" })).rejects.toThrow();

    expect(await addGroupMember(ctx, admin, { groupId: g.id, userId: alice.id })).toEqual({ added: true });
    expect(await addGroupMember(ctx, admin, { groupId: g.id, userId: alice.id })).toEqual({ added: false });
    const d = await getGroup(ctx, { id: g.id });
    expect(d.memberList.map((m) => m.email)).toEqual(["alice@corp.test"]);
    expect((await listGroups(ctx)).find((x) => x.id === g.id)?.members).toBe(1);
    await expect(addGroupMember(ctx, admin, { groupId: g.id, userId: crypto.randomUUID() })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });

    expect(await removeGroupMember(ctx, admin, { groupId: g.id, userId: alice.id })).toEqual({ removed: true });
    expect((await getGroup(ctx, { id: g.id })).members).toBe(0);

    await ctx.prisma.ipRule.create({ data: { cidr: "10.0.0.0/8", action: "allow", groupId: g.id } });
    await deleteGroup(ctx, admin, { id: g.id });
    expect(await ctx.prisma.group.count({ where: { id: g.id } })).toBe(0);
    expect(await ctx.prisma.ipRule.count({ where: { groupId: g.id } })).toBe(0);
    await expect(deleteGroup(ctx, admin, { id: g.id })).rejects.toMatchObject({ code: "NOT_FOUND" });

    const actions = (
      await ctx.prisma.auditEvent.findMany({ where: { action: { startsWith: "group." } }, orderBy: { id: "asc" } })
    ).map((e) => e.action);
    expect(actions).toEqual(["group.create", "group.member.add", "group.member.remove", "group.delete"]);
  });
});
