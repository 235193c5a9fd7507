import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT, generateKeyPair, importJWK, jwtVerify, type CryptoKey } from "jose";
import { joinBatchReceipt, receiptLeaf, receiptTree, splitBatchReceipt } from "@cumulus/protocol/receipt-tree";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { ZBeginUploadResponse } from "@cumulus/protocol/api";
import { ZCapabilityClaims } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { getSigningKey } from "../keys/signing-keys.ts";
import { registerNode } from "../nodes/register-node.ts";
import { statEntry } from "../fs/stat.ts";
import { listVersions, restoreVersion } from "../fs/versions.ts";
import { mkdir } from "../fs/mkdir.ts";
import {
  fakeChunk,
  manifest,
  receiptsFor,
  signReceipt,
  setupCluster,
  upload,
  type TestNode,
} from "../fs/test-fixtures.ts";
import { beginUpload } from "./begin-upload.ts";
import { commitUpload } from "./commit-upload.ts";
import { MAX_TOKEN_BYTES } from "../capabilities/tokens.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  ({ db, ctx, alice, bob, home, nodes } = await setupCluster({
    replicas: 2,
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

/** Everything a refused commit must leave untouched. */
async function snapshot() {
  const p = ctx.prisma;
  return [
    await p.entry.count(),
    await p.fileVersion.count(),
    await p.chunk.count(),
    await p.chunkReplica.count(),
    await p.change.count(),
    await p.upload.count(),
  ];
}

describe("begin + commit", () => {
  it("plans pipelines for missing chunks, commits with node receipts, and records everything", async () => {
    const chunks = [fakeChunk(4 * 1024 * 1024), fakeChunk(1000), fakeChunk(7)];
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/report.pdf`,
      ...manifest(chunks),
      baseVersion: null,
      parents: false,
    });
    expect(ZBeginUploadResponse.parse(plan)).toBeTruthy();
    expect(plan.missing.map((m) => m.id)).toEqual(chunks.map((c) => c.id));
    for (const m of plan.missing) {
      expect(m.pipeline).toHaveLength(2);
      expect(new Set(m.pipeline.map((p) => p.nodeId)).size).toBe(2);
      // Placement spreads the two replicas over both sites.
      expect(new Set(m.pipeline.map((p) => p.site))).toEqual(new Set(["hq", "branch"]));
    }
    const upload = await ctx.prisma.upload.findUniqueOrThrow({ where: { id: plan.uploadId } });
    expect(upload.userId).toBe(alice.id);

    const res = await commitUpload(ctx, alice, plan.uploadId, { receipts: await receiptsFor(plan, nodes) });
    expect(res.version).toBe(1);
    expect(res.entry).toMatchObject({
      path: `${home}/report.pdf`,
      type: "file",
      size: 4 * 1024 * 1024 + 1007,
      version: 1,
      owner: "alice@corp.test",
    });
    expect(await ctx.prisma.upload.findUnique({ where: { id: plan.uploadId } })).toBeNull();

    const stat = await statEntry(ctx, alice, { path: `${home}/report.pdf` });
    expect(stat.chunks.map((c) => [c.id, c.offset])).toEqual([
      [chunks[0]!.id, 0],
      [chunks[1]!.id, 4 * 1024 * 1024],
      [chunks[2]!.id, 4 * 1024 * 1024 + 1000],
    ]);
    for (const c of stat.chunks) {
      expect(c.replicas).toHaveLength(2);
      expect(c.replicas.every((r) => r.state === "stored")).toBe(true);
    }
    expect(stat.versions).toBe(1);
    expect(stat.policy.replicas).toBe(2);
    const replica = await ctx.prisma.chunkReplica.findFirstOrThrow({ where: { chunkId: chunks[0]!.id } });
    expect(replica.epoch).toBe(nodes.find((n) => n.id === replica.nodeId)!.epoch);
    const change = await ctx.prisma.change.findFirstOrThrow({ where: { entryId: res.entry.id } });
    expect(change.kind).toBe("create");
  });

  it("write tokens verify with the control plane's public key and carry aud, op, chunks and pipeline", async () => {
    const chunks = Array.from({ length: 250 }, () => fakeChunk(100));
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/many.bin`,
      ...manifest(chunks),
      baseVersion: null,
      parents: false,
    });
    const key = await importJWK((await getSigningKey(ctx)).publicJwk, "EdDSA");
    const covered = new Set<string>();
    for (const token of new Set(plan.missing.map((m) => m.token))) {
      expect(token.length).toBeLessThan(MAX_TOKEN_BYTES + 100);
      const { payload, protectedHeader } = await jwtVerify(token, key, { issuer: "cumulus-control" });
      expect(protectedHeader.alg).toBe("EdDSA");
      const claims = ZCapabilityClaims.parse(payload);
      expect(claims.op).toBe("write");
      expect(claims.sub).toBe(alice.id);
      expect(claims.chunks.length).toBeLessThanOrEqual(100);
      expect(claims.exp - claims.iat).toBe(ctx.config.capabilityTtlSeconds);
      for (const id of claims.chunks) {
        const m = plan.missing.find((x) => x.id === id)!;
        expect(m.token).toBe(token);
        // Hops carry the site (and UDT address when the node has one) so nodes can pick the transport.
        expect(claims.pipeline?.map((h) => ({ nodeId: h.nodeId, url: h.url, site: h.site }))).toEqual(
          m.pipeline.map((p) => ({ nodeId: p.nodeId, url: p.url, site: p.site })),
        );
        expect(claims.aud).toEqual(m.pipeline.map((p) => p.nodeId));
        covered.add(id);
      }
    }
    expect(covered.size).toBe(250);
    // A token signed by any other key does not verify.
    const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    await expect(jwtVerify(plan.missing[0]!.token, other.publicKey)).rejects.toThrow();
  });

  it("deduplicates: a second upload of the same content needs no chunk", async () => {
    const chunks = [fakeChunk(10), fakeChunk(20)];
    await upload(ctx, alice, nodes, `${home}/a.txt`, chunks);
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/b.txt`,
      ...manifest(chunks),
      baseVersion: null,
      parents: false,
    });
    expect(plan.missing).toEqual([]);
    const res = await commitUpload(ctx, alice, plan.uploadId, { receipts: {} });
    expect(res.entry.size).toBe(30);
    // Half-present content: only the new chunk is sent.
    const plan2 = await beginUpload(ctx, alice, {
      path: `${home}/c.txt`,
      ...manifest([chunks[0]!, fakeChunk(5)]),
      baseVersion: null,
      parents: false,
    });
    expect(plan2.missing).toHaveLength(1);
  });

  it("creates parents when asked, and refuses a missing parent otherwise", async () => {
    const chunks = [fakeChunk(3)];
    await expect(
      beginUpload(ctx, alice, { path: `${home}/new/dir/f`, ...manifest(chunks), baseVersion: null, parents: false }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    const res = await upload(ctx, alice, nodes, `${home}/new/dir/f`, chunks, { parents: true });
    expect(res.entry.path).toBe(`${home}/new/dir/f`);
  });

  it("validates the manifest", async () => {
    const before = await snapshot();
    const c = fakeChunk(10);
    const base = { path: `${home}/bad.bin`, baseVersion: null, parents: false };
    await expect(beginUpload(ctx, alice, { ...base, size: 11, chunks: [c] })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("add up"),
    });
    await expect(
      beginUpload(ctx, alice, {
        ...base,
        size: 4 * 1024 * 1024 + 1,
        chunks: [{ id: c.id, size: 4 * 1024 * 1024 + 1 }],
      }),
    ).rejects.toThrow();
    await expect(beginUpload(ctx, alice, { ...base, size: 10, chunks: [{ id: "XYZ", size: 10 }] })).rejects.toThrow();
    await expect(
      beginUpload(ctx, alice, { ...base, size: 30, chunks: [c, { id: c.id, size: 20 }] }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      beginUpload(ctx, alice, { ...base, path: `${home}/../x`, size: 10, chunks: [c] }),
    ).rejects.toMatchObject({ code: "INVALID_PATH" });
    await expect(beginUpload(ctx, alice, { ...base, path: "/", size: 10, chunks: [c] })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    expect(await snapshot()).toEqual(before);
  });

  it("an empty file has no chunks and commits", async () => {
    const res = await upload(ctx, alice, nodes, `${home}/empty`, []);
    expect(res.entry.size).toBe(0);
    expect(res.plan.missing).toEqual([]);
  });
});

describe("commit refusals change nothing", () => {
  async function planned(name: string, n = 2) {
    const chunks = Array.from({ length: n }, () => fakeChunk(100));
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/${name}`,
      ...manifest(chunks),
      baseVersion: null,
      parents: false,
    });
    return { chunks, plan };
  }

  it("refuses a receipt signed with another key", async () => {
    const { plan } = await planned("forged");
    const receipts = await receiptsFor(plan, nodes);
    const m = plan.missing[0]!;
    const victim = nodes.find((n) => n.id === m.pipeline[0]!.nodeId)!;
    const forger = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    receipts[m.id]![0] = await signReceipt(victim, m.id, m.size, { key: forger.privateKey });
    const before = await snapshot();
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("not signed by the node's registered key"),
    });
    expect(await snapshot()).toEqual(before);
  });

  it("accepts batch receipts (one signature per node over several chunks) and refuses forged, stale, misfiled or tampered ones", async () => {
    const { plan } = await planned("batch", 3);
    const stranger = fakeChunk(100); // a batch may hold chunks of other files too
    /** Each node's batch receipts over every chunk it is a hop for, keyed by chunk id. */
    async function batchReceipts(
      opts: { key?: CryptoKey; epoch?: number; sizeDelta?: number } = {},
    ): Promise<Record<string, string[]>> {
      const byNode = new Map<string, Map<string, string>>();
      for (const node of nodes) {
        const chunks = [stranger, ...plan.missing.filter((m) => m.pipeline.some((h) => h.nodeId === node.id))];
        const { root, proofs } = receiptTree(chunks.map((c) => receiptLeaf(c.id, c.size + (opts.sizeDelta ?? 0))));
        const jws = await new SignJWT({ epoch: opts.epoch ?? node.epoch, root, n: chunks.length })
          .setProtectedHeader({ alg: "EdDSA" })
          .setIssuer(node.id)
          .setIssuedAt()
          .sign(opts.key ?? node.privateKey);
        byNode.set(node.id, new Map(chunks.map((c, i) => [c.id, joinBatchReceipt(jws, i, proofs[i]!)] as const)));
      }
      return Object.fromEntries(
        plan.missing.map((m) => [m.id, m.pipeline.map((h) => byNode.get(h.nodeId)!.get(m.id)!)] as const),
      );
    }
    const good = await batchReceipts();
    const [m0, m1] = plan.missing as [(typeof plan.missing)[0], (typeof plan.missing)[0]];
    const before = await snapshot();
    const refused = async (receipts: Record<string, string[]>, match: object) => {
      await expect(commitUpload(ctx, alice, plan.uploadId, { receipts })).rejects.toMatchObject(match);
      expect(await snapshot()).toEqual(before);
    };
    const forger = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    await refused(await batchReceipts({ key: forger.privateKey }), {
      code: "BAD_REQUEST",
      message: expect.stringContaining("not signed by the node's registered key"),
    });
    await refused(await batchReceipts({ epoch: 99 }), { code: "STALE_EPOCH" });
    // Signed over other sizes than the manifest's.
    await refused(await batchReceipts({ sizeDelta: 1 }), {
      code: "BAD_REQUEST",
      message: expect.stringContaining("does not cover chunk"),
    });
    // m1's receipt (a valid signature and path) filed under m0.
    await refused(
      { ...good, [m0.id]: good[m1.id]! },
      { code: "BAD_REQUEST", message: expect.stringContaining("does not cover chunk") },
    );
    // A path with one hash changed, or pointing at another leaf.
    const s0 = splitBatchReceipt(good[m0.id]![0]!)!;
    const flipped = [...s0.proof];
    flipped[0] = (flipped[0]![0] === "A" ? "B" : "A") + flipped[0]!.slice(1);
    await refused(
      { ...good, [m0.id]: [joinBatchReceipt(s0.jws, s0.index, flipped), good[m0.id]![1]!] },
      { code: "BAD_REQUEST", message: expect.stringContaining("does not cover chunk") },
    );
    await refused(
      { ...good, [m0.id]: [joinBatchReceipt(s0.jws, s0.index ^ 1, s0.proof), good[m0.id]![1]!] },
      { code: "BAD_REQUEST", message: expect.stringContaining("does not cover chunk") },
    );
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts: good })).resolves.toMatchObject({ version: 1 });
  });

  it("refuses a receipt from an older epoch of the node", async () => {
    const { plan } = await planned("stale");
    const receipts = await receiptsFor(plan, nodes);
    const m = plan.missing[0]!;
    const node = nodes.find((n) => n.id === m.pipeline[0]!.nodeId)!;
    receipts[m.id]![0] = await signReceipt(node, m.id, m.size, { epoch: node.epoch - 1 || 99 });
    const before = await snapshot();
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts })).rejects.toMatchObject({ code: "STALE_EPOCH" });
    expect(await snapshot()).toEqual(before);
  });

  it("refuses receipts for the wrong chunk or size", async () => {
    const { plan } = await planned("mixed");
    const receipts = await receiptsFor(plan, nodes);
    const [m0, m1] = plan.missing as [(typeof plan.missing)[0], (typeof plan.missing)[0]];
    const node = nodes.find((n) => n.id === m0.pipeline[0]!.nodeId)!;
    const before = await snapshot();
    await expect(
      commitUpload(ctx, alice, plan.uploadId, {
        receipts: { ...receipts, [m0.id]: [await signReceipt(node, m1.id, m1.size), receipts[m0.id]![1]!] },
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      commitUpload(ctx, alice, plan.uploadId, {
        receipts: { ...receipts, [m0.id]: [await signReceipt(node, m0.id, m0.size + 1), receipts[m0.id]![1]!] },
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const stranger = fakeChunk(1);
    await expect(
      commitUpload(ctx, alice, plan.uploadId, {
        receipts: { ...receipts, [stranger.id]: [await signReceipt(node, stranger.id, 1)] },
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("not part of this upload") });
    expect(await snapshot()).toEqual(before);
  });

  it("refuses too few distinct receipts and chunks never stored", async () => {
    const { plan } = await planned("short");
    const receipts = await receiptsFor(plan, nodes);
    const [m0, m1] = plan.missing as [(typeof plan.missing)[0], (typeof plan.missing)[0]];
    const before = await snapshot();
    // One node twice is still one copy.
    await expect(
      commitUpload(ctx, alice, plan.uploadId, {
        receipts: { ...receipts, [m0.id]: [receipts[m0.id]![0]!, receipts[m0.id]![0]!] },
      }),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining(`chunk ${m0.id} has 1 durable copy, policy needs 2`),
    });
    const { [m1.id]: _dropped, ...withoutM1 } = receipts;
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts: withoutM1 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining(`chunk ${m1.id} was never stored`),
    });
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts: {} })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    expect(await snapshot()).toEqual(before);
    // The same upload still commits once the receipts are complete.
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts })).resolves.toMatchObject({ version: 1 });
  });

  it("refuses another user's, an unknown and an expired upload id as NOT_FOUND", async () => {
    const { plan } = await planned("owned");
    const receipts = await receiptsFor(plan, nodes);
    const before = await snapshot();
    await expect(commitUpload(ctx, bob, plan.uploadId, { receipts })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(commitUpload(ctx, alice, "00000000-0000-4000-8000-000000000123", { receipts })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(commitUpload(ctx, alice, "not-a-uuid", { receipts })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      commitUpload(ctx, alice, plan.uploadId, { receipts }, { now: new Date(Date.now() + 25 * 3600_000) }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await snapshot()).toEqual(before);
  });

  it("refuses a receipt from a node that re-registered since (new epoch)", async () => {
    const { plan } = await planned("rereg", 1);
    const receipts = await receiptsFor(plan, nodes);
    const m = plan.missing[0]!;
    const node = nodes.find((n) => n.id === m.pipeline[0]!.nodeId)!;
    const row = await ctx.prisma.storageNode.findUniqueOrThrow({ where: { id: node.id } });
    const jwk = row.publicKey as { kty: "OKP"; crv: "Ed25519"; x: string };
    const joinToken = await (await import("../cluster/join-token.ts")).setJoinToken(ctx);
    const again = await registerNode(ctx, {
      joinToken,
      name: node.name,
      site: node.site,
      dataUrl: node.url,
      udtAddress: null,
      publicKey: jwk,
      usage: { capacityBytes: 1e12, usedBytes: 0, chunkCount: 0 },
      version: "test",
    });
    node.epoch = again.epoch;
    await expect(commitUpload(ctx, alice, plan.uploadId, { receipts })).rejects.toMatchObject({ code: "STALE_EPOCH" });
  });
});

describe("versions and conflicts", () => {
  it("exactly one of two commits on the same base version wins", async () => {
    // Several rounds: the race window is small, and a broken lock must not pass by luck.
    for (let round = 0; round < 6; round++) {
      const path = `${home}/doc-${round}.txt`;
      const v1 = await upload(ctx, alice, nodes, path, [fakeChunk(10)]);
      const a = await beginUpload(ctx, alice, { path, ...manifest([fakeChunk(11)]), baseVersion: 1, parents: false });
      const b = await beginUpload(ctx, alice, { path, ...manifest([fakeChunk(12)]), baseVersion: 1, parents: false });
      const [ra, rb] = [await receiptsFor(a, nodes), await receiptsFor(b, nodes)];
      const results = await Promise.allSettled([
        commitUpload(ctx, alice, a.uploadId, { receipts: ra }),
        commitUpload(ctx, alice, b.uploadId, { receipts: rb }),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toMatchObject({
        code: "CONFLICT",
        message: expect.stringContaining("changed since version 1 (now 2)"),
      });
      expect(await ctx.prisma.fileVersion.count({ where: { entryId: v1.entry.id } })).toBe(2);
    }
    // A stale base is refused already at begin.
    await expect(
      beginUpload(ctx, alice, {
        path: `${home}/doc-0.txt`,
        ...manifest([fakeChunk(1)]),
        baseVersion: 1,
        parents: false,
      }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
    });
    await expect(
      beginUpload(ctx, alice, {
        path: `${home}/doc-0.txt`,
        ...manifest([fakeChunk(1)]),
        baseVersion: null,
        parents: false,
      }),
    ).rejects.toMatchObject({
      code: "CONFLICT",
    });
  });

  it("exactly one of two racing creates of the same name wins", async () => {
    const a = await beginUpload(ctx, alice, {
      path: `${home}/race.txt`,
      ...manifest([fakeChunk(3)]),
      baseVersion: null,
      parents: false,
    });
    const b = await beginUpload(ctx, alice, {
      path: `${home}/race.txt`,
      ...manifest([fakeChunk(4)]),
      baseVersion: null,
      parents: false,
    });
    const [ra, rb] = [await receiptsFor(a, nodes), await receiptsFor(b, nodes)];
    const results = await Promise.allSettled([
      commitUpload(ctx, alice, a.uploadId, { receipts: ra }),
      commitUpload(ctx, alice, b.uploadId, { receipts: rb }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.find((r): r is PromiseRejectedResult => r.status === "rejected")!.reason).toMatchObject({
      code: "CONFLICT",
    });
    expect(await ctx.prisma.entry.count({ where: { name: "race.txt" } })).toBe(1);
  });

  it("lists versions and restores an old one as a new version without moving bytes", async () => {
    const c1 = [fakeChunk(10), fakeChunk(20)];
    const c2 = [fakeChunk(30)];
    await upload(ctx, alice, nodes, `${home}/v.txt`, c1);
    await upload(ctx, alice, nodes, `${home}/v.txt`, c2, { baseVersion: 1 });
    const replicasBefore = await ctx.prisma.chunkReplica.count();
    const restored = await restoreVersion(ctx, alice, { path: `${home}/v.txt`, version: 1 });
    expect(restored.version).toBe(3);
    expect(restored.entry.size).toBe(30);
    expect(await ctx.prisma.chunkReplica.count()).toBe(replicasBefore);
    const stat = await statEntry(ctx, alice, { path: `${home}/v.txt` });
    expect(stat.chunks.map((c) => c.id)).toEqual(c1.map((c) => c.id));
    expect((await statEntry(ctx, alice, { path: `${home}/v.txt`, version: 2 })).chunks.map((c) => c.id)).toEqual(
      c2.map((c) => c.id),
    );
    const list = await listVersions(ctx, alice, { path: `${home}/v.txt` });
    expect(list.versions.map((v) => [v.number, v.size, v.current])).toEqual([
      [1, 30, false],
      [2, 30, false],
      [3, 30, true],
    ]);
    await expect(restoreVersion(ctx, alice, { path: `${home}/v.txt`, version: 9 })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(restoreVersion(ctx, bob, { path: `${home}/v.txt`, version: 1 })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(listVersions(ctx, bob, { path: `${home}/v.txt` })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses uploads into another user's folder and over a folder", async () => {
    await mkdir(ctx, alice, { path: `${home}/dir`, parents: false });
    const before = await snapshot();
    await expect(
      beginUpload(ctx, bob, { path: `${home}/x`, ...manifest([fakeChunk(1)]), baseVersion: null, parents: false }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(
      beginUpload(ctx, bob, { path: `${home}/x/y`, ...manifest([fakeChunk(1)]), baseVersion: null, parents: true }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/NOT_FOUND|FORBIDDEN/),
    });
    await expect(
      beginUpload(ctx, alice, { path: `${home}/dir`, ...manifest([fakeChunk(1)]), baseVersion: null, parents: false }),
    ).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    expect(await snapshot()).toEqual(before);
  });
});

describe("not enough nodes", () => {
  it("answers UNAVAILABLE naming the policy when fewer eligible nodes than replicas are active", async () => {
    await mkdir(ctx, alice, { path: `${home}/triple`, parents: false });
    const entry = await ctx.prisma.entry.findFirstOrThrow({ where: { name: "triple" } });
    await ctx.prisma.replicationPolicy.create({
      data: { entryId: entry.id, replicas: 3, requiredSites: [], allowedSites: [], pinnedNodes: [] },
    });
    // One of the three nodes goes silent: only two are eligible.
    await ctx.prisma.storageNode.update({
      where: { id: nodes[2]!.id },
      data: { lastHeartbeatAt: new Date(Date.now() - 3_600_000) },
    });
    try {
      await expect(
        beginUpload(ctx, alice, {
          path: `${home}/triple/f`,
          ...manifest([fakeChunk(5)]),
          baseVersion: null,
          parents: false,
        }),
      ).rejects.toMatchObject({
        code: "UNAVAILABLE",
        message: `the policy of ${home}/triple needs 3 replicas but only 2 eligible storage nodes are active: start more nodes or lower the replica count`,
      });
    } finally {
      await ctx.prisma.storageNode.update({ where: { id: nodes[2]!.id }, data: { lastHeartbeatAt: new Date() } });
    }
    const plan = await beginUpload(ctx, alice, {
      path: `${home}/triple/f`,
      ...manifest([fakeChunk(5)]),
      baseVersion: null,
      parents: false,
    });
    expect(plan.missing[0]!.pipeline).toHaveLength(3);
  });

  it("places new chunks only on nodes with room, and says which are full when too few have room", async () => {
    const full = nodes[0]!;
    // What the node's heartbeat reports when another program has filled its disk.
    await ctx.prisma.storageNode.update({ where: { id: full.id }, data: { availableBytes: 10n * 1024n * 1024n } });
    try {
      // Default policy, 2 replicas: the two nodes with room, every chunk.
      const plan = await beginUpload(ctx, alice, {
        path: `${home}/roomy.bin`,
        ...manifest(Array.from({ length: 12 }, () => fakeChunk(1000))),
        baseVersion: null,
        parents: false,
      });
      for (const m of plan.missing) {
        expect(m.pipeline.map((h) => h.nodeId).sort()).toEqual([nodes[1]!.id, nodes[2]!.id].sort());
      }
      await expect(
        beginUpload(ctx, alice, {
          path: `${home}/triple/g`,
          ...manifest([fakeChunk(5)]),
          baseVersion: null,
          parents: false,
        }),
      ).rejects.toMatchObject({
        code: "UNAVAILABLE",
        message:
          `the policy of ${home}/triple needs 3 replicas but only 2 eligible storage nodes are active with room ` +
          `(full: ${full.name}): free space on the full nodes, start more nodes or lower the replica count`,
      });
    } finally {
      await ctx.prisma.storageNode.update({ where: { id: full.id }, data: { availableBytes: null } });
    }
  });
});
