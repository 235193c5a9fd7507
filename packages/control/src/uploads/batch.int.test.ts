import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { ZBeginUploadBatchResponse, ZCommitUploadBatchResponse, type BeginUploadResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { statEntry } from "../fs/stat.ts";
import { fakeChunk, manifest, receiptsFor, setupCluster, upload, type TestNode } from "../fs/test-fixtures.ts";
import { setPolicy } from "../policies/policy.ts";
import { beginUploadBatch, commitUploadBatch } from "./batch.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let bobHome: string;
let nodes: TestNode[];

beforeAll(async () => {
  ({ db, ctx, alice, bob, home, bobHome, nodes } = await setupCluster({
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

async function counts() {
  const p = ctx.prisma;
  return [await p.entry.count(), await p.fileVersion.count(), await p.upload.count(), await p.change.count()];
}

describe("batch uploads", () => {
  it("begins and commits many files in one call each, with per-file results", async () => {
    const shared = fakeChunk(4096);
    const files = Array.from({ length: 5 }, (_, i) => ({ path: `${home}/small/f${i}.txt`, chunks: [fakeChunk(4096)] }));
    // One file repeats another's chunk: dedup applies inside a batch as for single uploads.
    files.push(
      { path: `${home}/small/same.txt`, chunks: [shared] },
      { path: `${home}/small/same2.txt`, chunks: [shared] },
    );
    const begun = ZBeginUploadBatchResponse.parse(
      await beginUploadBatch(ctx, alice, {
        uploads: files.map((f) => ({ path: f.path, ...manifest(f.chunks), baseVersion: null, parents: true })),
      }),
    );
    expect(begun.results.map((r) => r.ok)).toEqual(files.map(() => true));
    const plans = begun.results.map((r) => (r.ok ? r.value : null)!);
    // The stored uploads are what the answers promised: expiry (UTC, to the millisecond), path, manifest.
    for (const [i, plan] of plans.entries()) {
      const row = await ctx.prisma.upload.findUniqueOrThrow({ where: { id: plan.uploadId } });
      expect(row.expiresAt.toISOString()).toBe(plan.expiresAt);
      expect(row.path).toBe(files[i]!.path);
      expect(row.size).toBe(4096n);
      expect(row.manifest).toMatchObject({
        chunks: files[i]!.chunks.map((c) => ({ id: c.id, size: c.size })),
        baseVersion: null,
      });
    }
    const commits = [];
    for (const plan of plans) commits.push({ uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) });
    const committed = ZCommitUploadBatchResponse.parse(await commitUploadBatch(ctx, alice, { commits }));
    expect(committed.results.map((r) => (r.ok ? r.value.entry.path : r.error.code))).toEqual(files.map((f) => f.path));
    for (const f of files) expect((await statEntry(ctx, alice, { path: f.path })).versions).toBe(1);
    // Each answer is the entry as a single commit answers it (same fields, same values).
    for (const [i, r] of committed.results.entries()) {
      const st = await statEntry(ctx, alice, { path: files[i]!.path });
      expect(r.ok && r.value.entry).toEqual({
        id: st.entry.id,
        name: st.entry.name,
        path: st.entry.path,
        type: "file",
        size: 4096,
        modifiedAt: st.entry.modifiedAt,
        owner: alice.email,
        version: 1,
      });
    }
  });

  it("one bad or conflicting file gets its own error and the others still go through", async () => {
    await upload(ctx, alice, nodes, `${home}/exists.txt`, [fakeChunk(10)]);
    const good = fakeChunk(4096);
    const res = await beginUploadBatch(ctx, alice, {
      uploads: [
        { path: `${home}/ok.txt`, ...manifest([good]), baseVersion: null },
        { path: `${home}/exists.txt`, ...manifest([fakeChunk(5)]), baseVersion: null }, // CONFLICT
        { path: `${home}/bad:name.txt`, ...manifest([fakeChunk(5)]), baseVersion: null }, // a name the server refuses
        { path: `${bobHome}/theirs.txt`, ...manifest([fakeChunk(5)]), baseVersion: null }, // no access
        { path: `${home}/wrong-size.txt`, size: 99, chunks: [fakeChunk(5)], baseVersion: null }, // BAD_REQUEST
        { path: 42 }, // not an upload at all
      ],
    });
    expect(res.results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual([
      "ok",
      "CONFLICT",
      "INVALID_PATH",
      "NOT_FOUND",
      "BAD_REQUEST",
      "BAD_REQUEST",
    ]);
    const conflict = res.results[1]!;
    expect(!conflict.ok && conflict.error.details).toEqual({ currentVersion: 1 });

    const plan = (res.results[0] as { ok: true; value: BeginUploadResponse }).value;
    const before = await counts();
    const out = await commitUploadBatch(ctx, alice, {
      commits: [
        { uploadId: "00000000-0000-4000-8000-000000000000", receipts: {} }, // unknown upload
        { uploadId: plan.uploadId, receipts: {} }, // no receipts for the missing chunk
        { uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) },
      ],
    });
    expect(out.results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["NOT_FOUND", expect.any(String), "ok"]);
    const after = await counts();
    // Exactly the one good commit changed anything: one entry, one version, one upload gone.
    expect(after[0]! - before[0]!).toBe(1);
    expect(after[1]! - before[1]!).toBe(1);
    expect(after[2]! - before[2]!).toBe(-1);
  });

  it("a batch that is not one is refused as a whole and changes nothing", async () => {
    const before = await counts();
    await expect(beginUploadBatch(ctx, alice, { uploads: [] })).rejects.toThrow();
    await expect(beginUploadBatch(ctx, alice, { uploads: Array(501).fill({}) })).rejects.toThrow();
    await expect(beginUploadBatch(ctx, alice, "nope")).rejects.toThrow();
    await expect(commitUploadBatch(ctx, alice, { commits: [{ receipts: {} }] })).rejects.toThrow();
    expect(await counts()).toEqual(before);
  });

  it("another user's upload id is answered like an unknown one", async () => {
    const res = await beginUploadBatch(ctx, alice, {
      uploads: [{ path: `${home}/mine.txt`, ...manifest([fakeChunk(8)]), baseVersion: null }],
    });
    const plan = (res.results[0] as { ok: true; value: BeginUploadResponse }).value;
    const out = await commitUploadBatch(ctx, bob, {
      commits: [{ uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) }],
    });
    expect(out.results[0]).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  });
  it("a mixed batch commits creates and updates together; the one file that changed meanwhile alone gets CONFLICT", async () => {
    await upload(ctx, alice, nodes, `${home}/mixed/keep.txt`, [fakeChunk(100)], { parents: true });
    await upload(ctx, alice, nodes, `${home}/mixed/raced.txt`, [fakeChunk(100)]);
    const shared = fakeChunk(300);
    const begun = await beginUploadBatch(ctx, alice, {
      uploads: [
        { path: `${home}/mixed/new-a.txt`, ...manifest([shared]), baseVersion: null },
        { path: `${home}/mixed/keep.txt`, ...manifest([fakeChunk(200)]), baseVersion: 1 },
        { path: `${home}/mixed/raced.txt`, ...manifest([fakeChunk(200)]), baseVersion: 1 },
        // Same chunk as new-a: one token covers both files' chunk.
        {
          path: `${home}/mixed/deep/new-b.txt`,
          ...manifest([shared, fakeChunk(50)]),
          baseVersion: null,
          parents: true,
        },
      ],
    });
    expect(begun.results.map((r) => r.ok)).toEqual([true, true, true, true]);
    const plans = begun.results.map((r) => (r as { ok: true; value: BeginUploadResponse }).value);
    // The whole batch got one write capability per pipeline, not one per file.
    const tokens = new Set(plans.flatMap((p) => p.missing.map((m) => m.token)));
    const pipelines = new Set(plans.flatMap((p) => p.missing.map((m) => m.pipeline.map((h) => h.nodeId).join(","))));
    expect(tokens.size).toBe(pipelines.size);

    // Someone else's commit lands on raced.txt between this batch's begin and commit.
    await upload(ctx, alice, nodes, `${home}/mixed/raced.txt`, [fakeChunk(70)], { baseVersion: 1 });
    const feedBefore = await ctx.prisma.change.count();
    const before = await counts();
    const commits = [];
    for (const plan of plans) commits.push({ uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) });
    const out = await commitUploadBatch(ctx, alice, { commits });
    expect(out.results.map((r) => (r.ok ? `v${r.value.version}` : r.error.code))).toEqual([
      "v1",
      "v2",
      "CONFLICT",
      "v1",
    ]);
    const conflict = out.results[2]!;
    expect(!conflict.ok && conflict.error.details).toEqual({ currentVersion: 2 });
    expect(!conflict.ok && conflict.error.message).toMatch(/changed since version 1 \(now 2\)/);
    const after = await counts();
    expect(after[0]! - before[0]!).toBe(2); // two new entries
    expect(after[1]! - before[1]!).toBe(3); // three new versions
    expect(after[2]! - before[2]!).toBe(-3); // the refused upload stays until it expires
    // One change-feed row per committed file, in item order.
    const feed = await ctx.prisma.change.findMany({ where: { seq: { gt: feedBefore } }, orderBy: { seq: "asc" } });
    expect(feed.map((c) => `${c.kind} ${c.name}`)).toEqual(["create new-a.txt", "update keep.txt", "create new-b.txt"]);
    expect((await statEntry(ctx, alice, { path: `${home}/mixed/keep.txt` })).versions).toBe(2);
    expect((await statEntry(ctx, alice, { path: `${home}/mixed/raced.txt` })).versions).toBe(2);
    expect(await statEntry(ctx, alice, { path: `${home}/mixed/deep/new-b.txt` })).toMatchObject({ size: 350 });
  });

  it("two items on one path go one by one: the second gets CONFLICT, the first commits", async () => {
    const a = await beginUploadBatch(ctx, alice, {
      uploads: [
        { path: `${home}/twice.txt`, ...manifest([fakeChunk(10)]), baseVersion: null },
        { path: `${home}/twice.txt`, ...manifest([fakeChunk(20)]), baseVersion: null },
      ],
    });
    const plans = a.results.map((r) => (r as { ok: true; value: BeginUploadResponse }).value);
    const commits = [];
    for (const plan of plans) commits.push({ uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) });
    const out = await commitUploadBatch(ctx, alice, { commits });
    expect(out.results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "CONFLICT"]);
    expect(await statEntry(ctx, alice, { path: `${home}/twice.txt` })).toMatchObject({ size: 10, versions: 1 });
  });

  it("quota is counted in item order within a batch: the file that no longer fits is refused, the others commit", async () => {
    const used = Number(
      (await ctx.prisma.entry.aggregate({ where: { ownerId: bob.id, type: "file" }, _sum: { size: true } }))._sum
        .size ?? 0n,
    );
    await ctx.prisma.user.update({ where: { id: bob.id }, data: { quotaBytes: BigInt(used + 6000) } });
    try {
      const begun = await beginUploadBatch(ctx, bob, {
        uploads: [4000, 4000, 1500].map((n, i) => ({
          path: `${bobHome}/q${i}.bin`,
          ...manifest([fakeChunk(n)]),
          baseVersion: null,
        })),
      });
      // Each fits alone, so all begin.
      expect(begun.results.map((r) => r.ok)).toEqual([true, true, true]);
      const plans = begun.results.map((r) => (r as { ok: true; value: BeginUploadResponse }).value);
      const commits = [];
      for (const plan of plans) commits.push({ uploadId: plan.uploadId, receipts: await receiptsFor(plan, nodes) });
      const out = await commitUploadBatch(ctx, bob, { commits });
      expect(out.results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "QUOTA_EXCEEDED", "ok"]);
      const refused = out.results[1]!;
      expect(!refused.ok && refused.error.details).toMatchObject({ usedBytes: used + 4000, requestedBytes: 4000 });
    } finally {
      await ctx.prisma.user.update({ where: { id: bob.id }, data: { quotaBytes: null } });
    }
  });
  it("plans each file by its own effective policy: a file's own row wins over its folder's", async () => {
    await upload(ctx, alice, nodes, `${home}/pol/own.txt`, [fakeChunk(10)], { parents: true });
    await upload(ctx, alice, nodes, `${home}/pol/inherits.txt`, [fakeChunk(10)]);
    await setPolicy(ctx, alice, { path: `${home}/pol`, replicas: 1 });
    await setPolicy(ctx, alice, { path: `${home}/pol/own.txt`, replicas: 3 });
    const res = await beginUploadBatch(ctx, alice, {
      uploads: [
        { path: `${home}/pol/own.txt`, ...manifest([fakeChunk(20)]), baseVersion: 1 },
        { path: `${home}/pol/inherits.txt`, ...manifest([fakeChunk(20)]), baseVersion: 1 },
        { path: `${home}/pol/new.txt`, ...manifest([fakeChunk(20)]), baseVersion: null },
      ],
    });
    expect(res.results.map((r) => (r.ok ? r.value.missing.map((m) => m.pipeline.length) : r.error.code))).toEqual([
      [3],
      [1],
      [1],
    ]);
  });
});
