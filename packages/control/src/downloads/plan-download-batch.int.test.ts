import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { ZDownloadPlanBatchResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { fakeChunk, setupCluster, upload, type TestNode } from "../fs/test-fixtures.ts";
import { planDownloadBatch } from "./plan-download-batch.ts";

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

  it("a request that is not a batch is refused as a whole", async () => {
    await expect(planDownloadBatch(ctx, alice, { files: [] })).rejects.toThrow();
    await expect(planDownloadBatch(ctx, alice, { files: [{ path: 1 }] })).rejects.toThrow();
  });
});
