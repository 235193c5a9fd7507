import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { ZDownloadPlanBatchResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { fakeChunk, setupCluster, upload, type TestNode } from "../fs/test-fixtures.ts";
import { planDownloadBatch } from "./plan-download-batch.ts";
import { planDownload } from "./plan-download.ts";

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
      ["branch-1", "branch"],
    ],
  }));
});
afterAll(async () => {
  await db?.drop();
});

describe("planDownloadBatch", () => {
  it("plans many files in one call; a missing, foreign or malformed one gets its own error", async () => {
    const c1 = [fakeChunk(4096)];
    const c2 = [fakeChunk(10), fakeChunk(20)];
    await upload(ctx, alice, nodes, `${home}/a.txt`, c1);
    await upload(ctx, alice, nodes, `${home}/b.txt`, c2);
    await upload(ctx, bob, nodes, `${bobHome}/secret.txt`, [fakeChunk(5)]);
    const res = ZDownloadPlanBatchResponse.parse(
      await planDownloadBatch(ctx, alice, {
        files: [
          { path: `${home}/a.txt` },
          { path: `${home}/nope.txt` },
          { path: `${bobHome}/secret.txt` },
          { path: `${home}/b.txt`, version: 1 },
          { path: `${home}/b.txt`, version: 7 },
        ],
      }),
    );
    expect(res.results.map((r) => (r.ok ? r.value.size : r.error.code))).toEqual([
      4096,
      "NOT_FOUND",
      "NOT_FOUND",
      30,
      "NOT_FOUND",
    ]);
  });

  it("answers each file exactly as planDownload does, with read capabilities shared across the files", async () => {
    const paths = Array.from({ length: 6 }, (_, i) => `${home}/many/f${i}.txt`);
    for (const p of paths) await upload(ctx, alice, nodes, p, [fakeChunk(100)], { parents: true });
    await upload(ctx, alice, nodes, paths[0]!, [fakeChunk(50), fakeChunk(60)], { baseVersion: 1 });
    const files = [
      ...paths.map((path) => ({ path })),
      { path: paths[0]!, version: 1 },
      { path: `${home}/many` }, // a folder
      { path: `${home}/many/f1.txt/x` }, // under a file
    ];
    const res = ZDownloadPlanBatchResponse.parse(await planDownloadBatch(ctx, alice, { files }));
    const strip = (p: { chunks: { token: string }[] }) => ({
      ...p,
      chunks: p.chunks.map((c) => ({ ...c, token: "" })),
    });
    for (const [i, f] of files.entries()) {
      const one = await planDownload(ctx, alice, f).then(
        (v) => ({ ok: true as const, v: strip(v) }),
        (e: { code: string; message: string }) => ({ ok: false as const, code: e.code, message: e.message }),
      );
      const r = res.results[i]!;
      if (one.ok) expect(r.ok && strip(r.value)).toEqual(one.v);
      else expect(!r.ok && { ok: false, code: r.error.code, message: r.error.message }).toEqual(one);
    }
    const tokens = new Set(res.results.flatMap((r) => (r.ok ? r.value.chunks.map((c) => c.token) : [])));
    expect(tokens.size).toBe(1);
  });

  it("a request that is not a batch is refused as a whole", async () => {
    await expect(planDownloadBatch(ctx, alice, { files: [] })).rejects.toThrow();
    await expect(planDownloadBatch(ctx, alice, { files: [{ path: 1 }] })).rejects.toThrow();
  });
});
