import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { mkdir } from "./mkdir.ts";
import { statEntry } from "./stat.ts";
import { deleteEntry } from "./delete.ts";
import { fakeChunk, setupCluster, upload, type TestNode } from "./test-fixtures.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  ({ db, ctx, alice, home, nodes } = await setupCluster({ replicas: 1, nodes: [["hq-1", "hq"]] }));
});
afterAll(async () => {
  await db?.drop();
});

const live = async (path: string) =>
  (await ctx.prisma.entry.count({ where: { liveName: path.split("/").pop()! } })) > 0;

describe("delete with preconditions (sync agents)", () => {
  it("refuses to trash a file that moved on to a newer version, and trashes the version it names", async () => {
    const v1 = await upload(ctx, alice, nodes, `${home}/a.txt`, [fakeChunk(10)]);
    await upload(ctx, alice, nodes, `${home}/a.txt`, [fakeChunk(11)], { baseVersion: 1 });
    const stale = deleteEntry(ctx, alice, { path: `${home}/a.txt`, expectedId: v1.entry.id, expectedVersion: 1 });
    await expect(stale).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/version 2, not 1/) });
    expect(await live(`${home}/a.txt`)).toBe(true);
    await deleteEntry(ctx, alice, { path: `${home}/a.txt`, expectedId: v1.entry.id, expectedVersion: 2 });
    expect(await live(`${home}/a.txt`)).toBe(false);
  });

  it("refuses when another entry now has the name", async () => {
    const first = await upload(ctx, alice, nodes, `${home}/b.txt`, [fakeChunk(12)]);
    await deleteEntry(ctx, alice, { path: `${home}/b.txt` });
    await upload(ctx, alice, nodes, `${home}/b.txt`, [fakeChunk(13)]);
    await expect(deleteEntry(ctx, alice, { path: `${home}/b.txt`, expectedId: first.entry.id })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect((await statEntry(ctx, alice, { path: `${home}/b.txt` })).entry.id).not.toBe(first.entry.id);
  });

  it("refuses a version precondition on a folder and bad preconditions, changing nothing", async () => {
    await mkdir(ctx, alice, { path: `${home}/dir`, parents: false });
    await expect(deleteEntry(ctx, alice, { path: `${home}/dir`, expectedVersion: 1 })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    await expect(deleteEntry(ctx, alice, { path: `${home}/dir`, expectedId: "nope" })).rejects.toThrow();
    await expect(deleteEntry(ctx, alice, { path: `${home}/dir`, expectedVersion: 0 })).rejects.toThrow();
    expect(await live(`${home}/dir`)).toBe(true);
  });

  it("refuses a folder delete when something inside changed after the sequence it names", async () => {
    await mkdir(ctx, alice, { path: `${home}/proj/sub`, parents: true });
    await upload(ctx, alice, nodes, `${home}/proj/sub/x.txt`, [fakeChunk(20)]);
    const seen = Number((await ctx.prisma.change.aggregate({ _max: { seq: true } }))._max.seq);
    // Another device edits a file deep inside after the agent read the feed.
    await upload(ctx, alice, nodes, `${home}/proj/sub/x.txt`, [fakeChunk(21)], { baseVersion: 1 });
    const stale = deleteEntry(ctx, alice, { path: `${home}/proj`, recursive: true, unchangedSince: seen });
    await expect(stale).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/x\.txt/) });
    expect(await live(`${home}/proj`)).toBe(true);
    expect((await statEntry(ctx, alice, { path: `${home}/proj/sub/x.txt` })).entry.type).toBe("file");
    await expect(
      deleteEntry(ctx, alice, { path: `${home}/proj`, recursive: true, unchangedSince: -1 }),
    ).rejects.toThrow();
    expect(await live(`${home}/proj`)).toBe(true);

    const now = Number((await ctx.prisma.change.aggregate({ _max: { seq: true } }))._max.seq);
    await deleteEntry(ctx, alice, { path: `${home}/proj`, recursive: true, unchangedSince: now });
    expect(await live(`${home}/proj`)).toBe(false);
  });
});
