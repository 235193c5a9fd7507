import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importJWK, jwtVerify } from "jose";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { ZDownloadPlan } from "@cumulus/protocol/api";
import { ZCapabilityClaims } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { getSigningKey } from "../keys/signing-keys.ts";
import { fakeChunk, setupCluster, upload, type TestNode } from "../fs/test-fixtures.ts";
import { planDownload } from "./plan-download.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  ({ db, ctx, alice, bob, home, nodes } = await setupCluster({
    replicas: 3,
    nodes: [
      ["hq-1", "hq"],
      ["hq-2", "hq"],
      ["branch-1", "branch"],
    ],
  }));
});
afterAll(async () => {
  await db?.drop();
});

describe("download plans", () => {
  it("lists every chunk with its live replicas, same site first, and read tokens for exactly those nodes", async () => {
    const chunks = Array.from({ length: 130 }, () => fakeChunk(100));
    await upload(ctx, alice, nodes, `${home}/big.bin`, chunks);
    const key = await importJWK((await getSigningKey(ctx)).publicJwk, "EdDSA");

    for (const site of ["branch", "hq"]) {
      const plan = ZDownloadPlan.parse(await planDownload(ctx, alice, { path: `${home}/big.bin` }, { site }));
      expect(plan.version).toBe(1);
      expect(plan.size).toBe(13_000);
      expect(plan.chunks.map((c) => c.id)).toEqual(chunks.map((c) => c.id));
      expect(plan.chunks[129]!.offset).toBe(12_900);
      for (const c of plan.chunks) {
        expect(c.replicas).toHaveLength(3);
        const sites = c.replicas.map((r) => r.site);
        // Nearest first: every same-site replica before any other.
        const firstOther = sites.findIndex((s) => s !== site);
        expect(sites.slice(firstOther).every((s) => s !== site)).toBe(true);
        expect(sites[0]).toBe(site);
      }
      const tokens = new Set(plan.chunks.map((c) => c.token));
      expect(tokens.size).toBeGreaterThanOrEqual(2); // 130 chunks cannot share one token
      for (const token of tokens) {
        const claims = ZCapabilityClaims.parse((await jwtVerify(token, key, { issuer: "cumulus-control" })).payload);
        expect(claims.op).toBe("read");
        expect(claims.sub).toBe(alice.id);
        expect(claims.chunks.length).toBeLessThanOrEqual(100);
        const covered = plan.chunks.filter((c) => c.token === token);
        expect(new Set(claims.chunks)).toEqual(new Set(covered.map((c) => c.id)));
        expect(new Set(claims.aud)).toEqual(new Set(covered.flatMap((c) => c.replicas.map((r) => r.nodeId))));
      }
    }
  });

  it("leaves out replicas on silent nodes and answers UNAVAILABLE when a chunk has none", async () => {
    const chunks = [fakeChunk(10)];
    await upload(ctx, alice, nodes, `${home}/small.bin`, chunks);
    const stale = new Date(Date.now() - 3_600_000);
    await ctx.prisma.storageNode.update({ where: { id: nodes[0]!.id }, data: { lastHeartbeatAt: stale } });
    try {
      const plan = await planDownload(ctx, alice, { path: `${home}/small.bin` }, { site: "hq" });
      expect(plan.chunks[0]!.replicas.map((r) => r.node)).toEqual(["hq-2", "branch-1"]);
      await ctx.prisma.storageNode.updateMany({ data: { lastHeartbeatAt: stale } });
      await expect(planDownload(ctx, alice, { path: `${home}/small.bin` })).rejects.toMatchObject({
        code: "UNAVAILABLE",
        message: expect.stringContaining("1 of 1 chunks"),
      });
    } finally {
      await ctx.prisma.storageNode.updateMany({ data: { lastHeartbeatAt: new Date() } });
    }
  });

  it("serves an older version by number and refuses other users, folders and unknown versions", async () => {
    const v1 = [fakeChunk(1)];
    const v2 = [fakeChunk(2)];
    await upload(ctx, alice, nodes, `${home}/doc`, v1);
    await upload(ctx, alice, nodes, `${home}/doc`, v2, { baseVersion: 1 });
    expect((await planDownload(ctx, alice, { path: `${home}/doc`, version: "1" })).chunks[0]!.id).toBe(v1[0]!.id);
    expect((await planDownload(ctx, alice, { path: `${home}/doc` })).chunks[0]!.id).toBe(v2[0]!.id);
    await expect(planDownload(ctx, alice, { path: `${home}/doc`, version: 7 })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(planDownload(ctx, bob, { path: `${home}/doc` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(planDownload(ctx, alice, { path: home })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});
