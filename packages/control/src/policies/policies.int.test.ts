import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { statEntry } from "../fs/stat.ts";
import { beginUpload } from "../uploads/begin-upload.ts";
import { addNode, createUser, fakeChunk, manifest, testContext } from "../fs/test-fixtures.ts";
import { getPolicy, setPolicy } from "./policy.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let home: string;

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 2 });
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  home = (await whoami(ctx, alice)).home;
  await whoami(ctx, bob);
  for (const [name, site] of [
    ["hq-1", "hq"],
    ["hq-2", "hq"],
    ["hq-3", "hq"],
    ["branch-1", "branch"],
    ["london-1", "london"],
  ] as const) {
    await addNode(ctx, name, site);
  }
});
afterAll(async () => {
  await db?.drop();
});

describe("replication policies", () => {
  it("inherits per field from the nearest ancestor, else the cluster default", async () => {
    await mkdir(ctx, alice, { path: `${home}/proj/sub/deep`, parents: true });
    const dflt = await getPolicy(ctx, alice, { path: `${home}/proj/sub/deep` });
    expect(dflt).toMatchObject({
      explicit: null,
      effective: { replicas: 2, requiredSites: [], allowedSites: [], pinnedNodes: [] },
      inheritedFrom: "default",
    });

    await setPolicy(ctx, alice, { path: `${home}/proj`, replicas: 3, allowedSites: ["hq", "branch"] });
    await setPolicy(ctx, alice, { path: `${home}/proj/sub`, requiredSites: ["branch"] });
    const deep = await getPolicy(ctx, alice, { path: `${home}/proj/sub/deep` });
    expect(deep.effective).toEqual({
      replicas: 3,
      requiredSites: ["branch"],
      allowedSites: ["hq", "branch"],
      pinnedNodes: [],
    });
    expect(deep.inheritedFrom).toBe(`${home}/proj`);
    expect(deep.explicit).toBeNull();
    const sub = await getPolicy(ctx, alice, { path: `${home}/proj/sub` });
    expect(sub.explicit).toEqual({ replicas: null, requiredSites: ["branch"], allowedSites: [], pinnedNodes: [] });

    // Nearer wins; clearing (null) inherits again.
    await setPolicy(ctx, alice, { path: `${home}/proj/sub`, replicas: 4 });
    expect((await getPolicy(ctx, alice, { path: `${home}/proj/sub/deep` })).effective.replicas).toBe(4);
    expect((await getPolicy(ctx, alice, { path: `${home}/proj/sub/deep` })).inheritedFrom).toBe(`${home}/proj/sub`);
    await setPolicy(ctx, alice, { path: `${home}/proj/sub`, replicas: null });
    expect((await getPolicy(ctx, alice, { path: `${home}/proj/sub/deep` })).effective.replicas).toBe(3);
    expect((await statEntry(ctx, alice, { path: `${home}/proj/sub/deep` })).policy.replicas).toBe(3);

    const events = await ctx.prisma.auditEvent.findMany({ where: { action: "policy.set" } });
    expect(events.length).toBe(4);
    expect(events[0]!.actor).toBe("alice@corp.test");
  });

  it("uploads are planned with the effective policy", async () => {
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/proj/sub/deep/f`,
      ...manifest([fakeChunk(9)]),
      baseVersion: null,
      parents: false,
    });
    const pipeline = plan.missing[0]!.pipeline;
    expect(pipeline).toHaveLength(3);
    expect(pipeline.map((p) => p.site)).toContain("branch");
    expect(pipeline.every((p) => p.site === "hq" || p.site === "branch")).toBe(true);
  });

  it("refuses unknown sites and nodes, listing the known ones, and invalid combinations; changes nothing", async () => {
    await mkdir(ctx, alice, { path: `${home}/p2`, parents: false });
    const before = await ctx.prisma.replicationPolicy.count();
    await expect(setPolicy(ctx, alice, { path: `${home}/p2`, requiredSites: ["mars"] })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: "unknown site mars: known sites are branch, hq, london",
    });
    await expect(setPolicy(ctx, alice, { path: `${home}/p2`, pinnedNodes: ["hq-9"] })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("known nodes are branch-1, hq-1, hq-2, hq-3, london-1"),
    });
    await expect(
      setPolicy(ctx, alice, { path: `${home}/p2`, replicas: 1, requiredSites: ["hq", "branch"] }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      setPolicy(ctx, alice, { path: `${home}/p2`, requiredSites: ["london"], allowedSites: ["hq"] }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(setPolicy(ctx, alice, { path: `${home}/p2`, replicas: 17 })).rejects.toThrow();
    // Valid alone, invalid with what it inherits: sub requires a replica in branch.
    await expect(setPolicy(ctx, alice, { path: `${home}/proj/sub/deep`, allowedSites: ["hq"] })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("together with what it inherits"),
    });
    expect(await ctx.prisma.replicationPolicy.count()).toBe(before);
  });

  it("warns, without refusing, when the active nodes cannot place the policy now; the warning goes once they can", async () => {
    await mkdir(ctx, alice, { path: `${home}/wide`, parents: false });
    expect((await getPolicy(ctx, alice, { path: `${home}/wide` })).warning).toBeNull();
    const six = await setPolicy(ctx, alice, { path: `${home}/wide`, replicas: 6 });
    expect(six.effective.replicas).toBe(6);
    expect(six.warning).toBe(
      `only 5 eligible storage nodes are active for 6 replicas: uploads under ${home}/wide are refused, and what ` +
        "is stored there stays under-replicated, until 1 more join or the replica count is lowered",
    );
    // What it inherits carries the warning too, and so does an upload's refusal.
    await mkdir(ctx, alice, { path: `${home}/wide/inner`, parents: false });
    expect((await getPolicy(ctx, alice, { path: `${home}/wide/inner` })).warning).toMatch(/^only 5 eligible/);
    await expect(
      beginUpload(ctx, alice, {
        path: `${home}/wide/inner/f`,
        ...manifest([fakeChunk(1000)]),
        baseVersion: null,
        parents: false,
      }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE" });

    // A required site whose only node went silent: copies go elsewhere meanwhile.
    const london = await ctx.prisma.storageNode.findFirstOrThrow({ where: { name: "london-1" } });
    const lastHeartbeatAt = london.lastHeartbeatAt;
    await ctx.prisma.storageNode.update({ where: { id: london.id }, data: { lastHeartbeatAt: new Date(0) } });
    try {
      const req = await setPolicy(ctx, alice, { path: `${home}/wide`, replicas: 2, requiredSites: ["london"] });
      expect(req.warning).toBe(
        'placement cannot follow this policy fully now (required site "london" has no eligible node): ' +
          "copies go to other nodes meanwhile",
      );
      const pinned = await setPolicy(ctx, alice, {
        path: `${home}/wide`,
        requiredSites: [],
        pinnedNodes: ["london-1"],
      });
      expect(pinned.warning).toMatch(/pinned node "london-1" is down; not placed/);
    } finally {
      await ctx.prisma.storageNode.update({ where: { id: london.id }, data: { lastHeartbeatAt } });
    }
    expect((await getPolicy(ctx, alice, { path: `${home}/wide` })).warning).toBeNull();

    // A full node counts as no room for new replicas, as uploads see it.
    await setPolicy(ctx, alice, { path: `${home}/wide`, pinnedNodes: [], replicas: 5 });
    expect((await getPolicy(ctx, alice, { path: `${home}/wide` })).warning).toBeNull();
    await ctx.prisma.storageNode.update({ where: { id: london.id }, data: { availableBytes: 0n } });
    try {
      expect((await getPolicy(ctx, alice, { path: `${home}/wide` })).warning).toMatch(
        /^only 4 eligible storage nodes are active with room \(full: london-1\) for 5 replicas: /,
      );
      const pinnedFull = await setPolicy(ctx, alice, { path: `${home}/wide`, replicas: 2, pinnedNodes: ["london-1"] });
      expect(pinnedFull.warning).toBe(
        'placement cannot follow this policy fully now (pinned node "london-1" is full; not placed): ' +
          "copies go to other nodes meanwhile",
      );
    } finally {
      await ctx.prisma.storageNode.update({ where: { id: london.id }, data: { availableBytes: null } });
    }
  });

  it("needs manage permission: other users are refused, admins and ACL managers allowed", async () => {
    await expect(setPolicy(ctx, bob, { path: `${home}/proj`, replicas: 1 })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(getPolicy(ctx, bob, { path: `${home}/proj` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const proj = await ctx.prisma.entry.findFirstOrThrow({ where: { name: "proj" } });
    await ctx.prisma.aclEntry.create({ data: { entryId: proj.id, userId: bob.id, permission: "write" } });
    await expect(setPolicy(ctx, bob, { path: `${home}/proj`, replicas: 1 })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await ctx.prisma.aclEntry.updateMany({
      where: { entryId: proj.id, userId: bob.id },
      data: { permission: "manage" },
    });
    await expect(setPolicy(ctx, bob, { path: `${home}/proj`, replicas: 2 })).resolves.toMatchObject({
      effective: { replicas: 2 },
    });
    await expect(setPolicy(ctx, admin, { path: "/", replicas: 3 })).resolves.toMatchObject({ inheritedFrom: "/" });
    expect((await getPolicy(ctx, alice, { path: home })).effective.replicas).toBe(3);
  });
});
