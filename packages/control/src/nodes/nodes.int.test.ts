import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { pino } from "pino";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { createPrismaClient } from "@cumulus/db/client";
import { AppError } from "@cumulus/protocol/errors";
import type { RegisterNodeRequest } from "@cumulus/protocol/node-api";
import { DEFAULT_CONTROL_CONFIG, type ControlContext } from "../context.ts";
import { setJoinToken } from "../cluster/join-token.ts";
import { getHealth } from "../cluster/health.ts";
import { registerNode } from "./register-node.ts";
import { heartbeat } from "./heartbeat.ts";
import { detectFailedNodes } from "./detect-failures.ts";

let db: TestDatabase;
let ctx: ControlContext;
let joinToken: string;

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = {
    prisma: db.prisma,
    log: pino({ level: "silent" }),
    config: { ...DEFAULT_CONTROL_CONFIG, nodeTimeoutMs: 5_000 },
  };
  joinToken = await setJoinToken(ctx);
});
afterAll(async () => {
  await db?.drop();
});

type FakeNode = { privateKey: CryptoKey; request: RegisterNodeRequest };

async function fakeNode(name: string, site: string): Promise<FakeNode> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(publicKey);
  return {
    privateKey,
    request: {
      joinToken,
      name,
      site,
      dataUrl: "http://127.0.0.1:7999",
      udtAddress: null,
      publicKey: { kty: "OKP", crv: "Ed25519", x: jwk.x! },
      usage: { capacityBytes: 1e9, usedBytes: 0, chunkCount: 0 },
      version: "test",
    },
  };
}

function nodeJwt(node: FakeNode, nodeId: string, epoch: number, key = node.privateKey): Promise<string> {
  return new SignJWT({ epoch })
    .setProtectedHeader({ alg: "EdDSA" })
    .setSubject(nodeId)
    .setAudience("cumulus-control")
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(key);
}

const hb = {
  usage: { capacityBytes: 1e9, usedBytes: 10, chunkCount: 1 },
  load: { cpu: 0.1, inflightRequests: 0, bytesInPerSec: 0, bytesOutPerSec: 0 },
};

describe("node registration and heartbeats", () => {
  it("registers a node with a new epoch and the control plane's public key", async () => {
    const n = await fakeNode("hq-1", "hq");
    const r = await registerNode(ctx, n.request);
    expect(r.epoch).toBe(1);
    expect(r.status).toBe("active");
    expect(r.controlPublicKey.crv).toBe("Ed25519");
    const again = await registerNode(ctx, n.request);
    expect(again.nodeId).toBe(r.nodeId);
    expect(again.epoch).toBe(2);
    // The signing key is stable across calls.
    expect(again.controlPublicKey.x).toBe(r.controlPublicKey.x);
  });

  it("refuses a wrong join token and changes nothing", async () => {
    const n = await fakeNode("intruder", "hq");
    await expect(registerNode(ctx, { ...n.request, joinToken: "x".repeat(32) })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    expect(await ctx.prisma.storageNode.findUnique({ where: { name: "intruder" } })).toBeNull();
  });

  it("refuses malformed registrations", async () => {
    const n = await fakeNode("bad", "hq");
    await expect(registerNode(ctx, { ...n.request, name: "Bad Name/../" })).rejects.toThrow();
    await expect(registerNode(ctx, { ...n.request, dataUrl: "not a url" })).rejects.toThrow();
    expect(await ctx.prisma.storageNode.count({ where: { name: "bad" } })).toBe(0);
  });

  it("refuses a second identity under an existing name", async () => {
    await registerNode(ctx, (await fakeNode("hq-9", "hq")).request);
    const imposter = await fakeNode("hq-9", "hq");
    await expect(registerNode(ctx, imposter.request)).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
  });

  it("accepts heartbeats signed by the node's key at the current epoch only", async () => {
    const n = await fakeNode("hq-2", "hq");
    const r1 = await registerNode(ctx, n.request);
    const res = await heartbeat(ctx, `Bearer ${await nodeJwt(n, r1.nodeId, r1.epoch)}`, hb);
    expect(res.status).toBe("active");
    const row = await ctx.prisma.storageNode.findUniqueOrThrow({ where: { id: r1.nodeId } });
    expect(row.usedBytes).toBe(10n);
    // A node that does not report its free space (an older one) leaves it unknown.
    expect(row.availableBytes).toBeNull();
    await heartbeat(ctx, `Bearer ${await nodeJwt(n, r1.nodeId, r1.epoch)}`, {
      ...hb,
      usage: { ...hb.usage, availableBytes: 123_456 },
    });
    expect((await ctx.prisma.storageNode.findUniqueOrThrow({ where: { id: r1.nodeId } })).availableBytes).toBe(
      123_456n,
    );

    const r2 = await registerNode(ctx, n.request);
    await expect(heartbeat(ctx, `Bearer ${await nodeJwt(n, r1.nodeId, r1.epoch)}`, hb)).rejects.toMatchObject({
      code: "STALE_EPOCH",
    });
    await heartbeat(ctx, `Bearer ${await nodeJwt(n, r2.nodeId, r2.epoch)}`, hb);

    const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    await expect(
      heartbeat(ctx, `Bearer ${await nodeJwt(n, r2.nodeId, r2.epoch, other.privateKey)}`, hb),
    ).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
    await expect(heartbeat(ctx, null, hb)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await expect(heartbeat(ctx, "Bearer garbage", hb)).rejects.toBeInstanceOf(AppError);
  });

  it("a heartbeat that was in flight when its node was removed says decommissioned, not register again", async () => {
    const n = await fakeNode("hq-7", "hq");
    const r = await registerNode(ctx, n.request);
    const auth = `Bearer ${await nodeJwt(n, r.nodeId, r.epoch)}`;
    let beat: Promise<unknown> | undefined;
    await ctx.prisma.$transaction(async (tx) => {
      // Hold the node's row so the heartbeat passes its checks and then waits at its update,
      // and remove the node meanwhile.
      await tx.$queryRaw`SELECT id FROM "StorageNode" WHERE id = ${r.nodeId}::uuid FOR UPDATE`;
      beat = heartbeat(ctx, auth, hb).catch((err: unknown) => err);
      await expect
        .poll(
          async () =>
            (
              await ctx.prisma.$queryRaw<{ n: bigint }[]>`
                SELECT count(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'`
            )[0]!.n,
          { timeout: 10_000 },
        )
        .toBeGreaterThan(0n);
      await tx.storageNode.update({ where: { id: r.nodeId }, data: { status: "decommissioned" } });
    });
    expect(await beat).toMatchObject({ code: "FORBIDDEN" });
    expect((await ctx.prisma.storageNode.findUniqueOrThrow({ where: { id: r.nodeId } })).status).toBe("decommissioned");
  });

  it("marks silent nodes down, counts only fresh active nodes, and makes them re-register", async () => {
    const n = await fakeNode("branch-1", "branch");
    const r = await registerNode(ctx, n.request);
    const before = await getHealth(ctx);
    expect(before.httpStatus).toBe(200);
    const activeBefore = before.health.nodes.active;

    const later = new Date(Date.now() + 6_000);
    const downed = await detectFailedNodes(ctx, later);
    expect(downed).toContain("branch-1");
    const after = await getHealth(ctx);
    expect(after.health.nodes.active).toBe(activeBefore - downed.length);

    await expect(heartbeat(ctx, `Bearer ${await nodeJwt(n, r.nodeId, r.epoch)}`, hb)).rejects.toMatchObject({
      code: "STALE_EPOCH",
    });
    const back = await registerNode(ctx, n.request);
    expect(back.status).toBe("active");
    expect(back.epoch).toBe(r.epoch + 1);
    const audit = await ctx.prisma.auditEvent.findMany({ where: { action: "node.down", target: "branch-1" } });
    expect(audit).toHaveLength(1);
  });

  it("reports 503 when the database is unreachable", async () => {
    const broken: ControlContext = { ...ctx, prisma: createPrismaClient("postgresql://nobody:x@127.0.0.1:1/none") };
    const { health, httpStatus } = await getHealth(broken);
    expect(httpStatus).toBe(503);
    expect(health.database).toBe("unreachable");
  });
});
