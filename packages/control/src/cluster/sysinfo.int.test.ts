import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { ZSysinfo } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { deleteEntry } from "../fs/delete.ts";
import { setPolicy } from "../policies/policy.ts";
import { addNode, createUser, fakeChunk, testContext, upload, type TestNode } from "../fs/test-fixtures.ts";
import { sysinfo } from "./sysinfo.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 2 });
  alice = await createUser(ctx, "alice@corp.test");
  home = (await whoami(ctx, alice)).home;
  nodes = [
    await addNode(ctx, "hq-1", "hq"),
    await addNode(ctx, "hq-2", "hq"),
    await addNode(ctx, "branch-1", "branch"),
  ];
});
afterAll(async () => {
  await db?.drop();
});

describe("sysinfo", () => {
  it("counts chunks, replicas, and under/over-replicated chunks against their effective policy", async () => {
    let info = ZSysinfo.parse(await sysinfo(ctx));
    expect(info).toMatchObject({ chunks: 0, replicas: 0, underReplicated: 0, overReplicated: 0 });
    expect(info.sites).toEqual([
      { name: "branch", nodes: 1 },
      { name: "hq", nodes: 2 },
    ]);
    expect(info.nodes.map((n) => [n.name, n.status])).toEqual([
      ["branch-1", "active"],
      ["hq-1", "active"],
      ["hq-2", "active"],
    ]);

    const a = [fakeChunk(1), fakeChunk(2)];
    const shared = fakeChunk(3);
    await upload(ctx, alice, nodes, `${home}/a`, [...a, shared]);
    info = await sysinfo(ctx);
    expect(info).toMatchObject({ chunks: 3, replicas: 6, underReplicated: 0, overReplicated: 0 });

    // A folder asking for 3 copies makes the shared chunk (referenced with 2 and 3) need 3.
    await mkdir(ctx, alice, { path: `${home}/triple`, parents: false });
    await setPolicy(ctx, alice, { path: `${home}/triple`, replicas: 3 });
    await upload(ctx, alice, nodes, `${home}/triple/b`, [shared]);
    info = await sysinfo(ctx);
    expect(info).toMatchObject({ chunks: 3, replicas: 7, underReplicated: 0 });

    // Raising the policy after the fact leaves b's chunk... already at 3; a's chunks at 2 need 3 under /.
    await setPolicy(ctx, alice, { path: home, replicas: 3 });
    info = await sysinfo(ctx);
    expect(info.underReplicated).toBe(2);

    // A silent node's replicas stop counting.
    await ctx.prisma.storageNode.update({
      where: { id: nodes[2]!.id },
      data: { lastHeartbeatAt: new Date(Date.now() - 3_600_000) },
    });
    info = await sysinfo(ctx);
    expect(info.underReplicated).toBe(3);
    expect(info.nodes.find((n) => n.name === "branch-1")!.status).toBe("down");
    await ctx.prisma.storageNode.update({ where: { id: nodes[2]!.id }, data: { lastHeartbeatAt: new Date() } });

    // Lowering to 1 makes everything over-replicated; trashed files still count (retained).
    await setPolicy(ctx, alice, { path: home, replicas: 1 });
    await setPolicy(ctx, alice, { path: `${home}/triple`, replicas: 1 });
    await deleteEntry(ctx, alice, { path: `${home}/a`, recursive: false });
    info = await sysinfo(ctx);
    expect(info).toMatchObject({ underReplicated: 0, overReplicated: 3 });

    // Replicas that are not `stored` do not count.
    await ctx.prisma.chunkReplica.updateMany({ where: { chunkId: a[0]!.id }, data: { state: "corrupt" } });
    info = await sysinfo(ctx);
    expect(info).toMatchObject({ replicas: 5, underReplicated: 1, overReplicated: 2 });
  });
});
