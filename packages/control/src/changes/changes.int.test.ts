import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PrismaClient } from "@cumulus/db/client";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { ZChangesResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { moveEntry } from "../fs/move.ts";
import { deleteEntry } from "../fs/delete.ts";
import { restoreFromTrash } from "../fs/trash.ts";
import { addNode, createUser, fakeChunk, testContext, upload, type TestNode } from "../fs/test-fixtures.ts";
import { listChanges, ZChangesQuery } from "./list-changes.ts";
import { ChangeSignal } from "./change-signal.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let aliceHome: string;
let bobHome: string;
let nodes: TestNode[];

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 1 });
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  aliceHome = (await whoami(ctx, alice)).home;
  bobHome = (await whoami(ctx, bob)).home;
  nodes = [await addNode(ctx, "hq-1", "hq")];
});
afterAll(async () => {
  await db?.drop();
});

const feed = async (user: AuthUser, cursor: number, wait = 0) =>
  ZChangesResponse.parse(await listChanges(ctx, user, { cursor: String(cursor), wait: String(wait) }));

describe("change feed", () => {
  it("reports a user's own changes in order with paths and versions, and nobody else's", async () => {
    const start = (await feed(admin, 0)).cursor;
    await mkdir(ctx, alice, { path: `${aliceHome}/docs`, parents: false });
    const file = await upload(ctx, alice, nodes, `${aliceHome}/docs/a.txt`, [fakeChunk(5)]);
    await upload(ctx, alice, nodes, `${aliceHome}/docs/a.txt`, [fakeChunk(6)], { baseVersion: 1 });
    await mkdir(ctx, bob, { path: `${bobHome}/private`, parents: false });
    await moveEntry(ctx, alice, { from: `${aliceHome}/docs/a.txt`, to: `${aliceHome}/docs/b.txt` });
    await deleteEntry(ctx, alice, { path: `${aliceHome}/docs/b.txt`, recursive: false });
    await restoreFromTrash(ctx, alice, { id: file.entry.id });

    const mine = await feed(alice, start);
    expect(mine.changes.map((c) => [c.kind, c.path, c.version])).toEqual([
      ["create", `${aliceHome}/docs`, null],
      ["create", `${aliceHome}/docs/a.txt`, 1],
      ["update", `${aliceHome}/docs/a.txt`, 2],
      ["move", `${aliceHome}/docs/b.txt`, null],
      ["trash", `${aliceHome}/docs/b.txt`, null],
      ["restore", `${aliceHome}/docs/b.txt`, null],
    ]);
    const seqs = mine.changes.map((c) => c.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(mine.cursor).toBe(seqs[seqs.length - 1]);

    const bobs = await feed(bob, start);
    expect(bobs.changes.map((c) => c.path)).toEqual([`${bobHome}/private`]);
    // The cursor passes over what bob may not see, so it is not scanned again.
    expect(bobs.cursor).toBe(mine.cursor);
    expect((await feed(bob, bobs.cursor)).changes).toEqual([]);

    const all = await feed(admin, start);
    expect(all.changes).toHaveLength(7);
  });

  it("reports a move out of the user's sight without a path", async () => {
    const shared = await mkdir(ctx, alice, { path: `${aliceHome}/shared`, parents: false });
    await ctx.prisma.aclEntry.create({ data: { entryId: shared.id, userId: bob.id, permission: "read" } });
    const start = (await feed(bob, 0)).cursor;
    const f = await mkdir(ctx, alice, { path: `${aliceHome}/shared/plan`, parents: false });
    await moveEntry(ctx, alice, { from: `${aliceHome}/shared/plan`, to: `${aliceHome}/plan` });
    const seen = await feed(bob, start);
    expect(seen.changes.map((c) => [c.kind, c.entryId, c.path])).toEqual([
      ["create", f.id, `${aliceHome}/shared/plan`],
      ["move", f.id, null],
    ]);
  });

  it("long-polls: waits for the next change, or returns empty when the time is up", async () => {
    const cursor = (await feed(alice, 0)).cursor;
    const t0 = Date.now();
    const empty = await feed(alice, cursor, 0.5);
    expect(empty.changes).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);

    const waiting = feed(alice, cursor, 10);
    await new Promise((r) => setTimeout(r, 300));
    await mkdir(ctx, alice, { path: `${aliceHome}/late`, parents: false });
    const got = await waiting;
    expect(got.changes.map((c) => c.path)).toEqual([`${aliceHome}/late`]);
    expect(Date.now() - t0).toBeLessThan(5_000);

    expect(ZChangesQuery.parse({ wait: "3600" }).wait).toBe(30);
    await expect(listChanges(ctx, alice, { cursor: "-1" })).rejects.toThrow();
  });

  it("with commits announced, a long-poll sleeps until one commits instead of polling", async () => {
    let reads = 0;
    const counted = db.prisma.$extends({
      query: {
        change: {
          findMany({ args, query }) {
            reads++;
            return query(args);
          },
        },
      },
    }) as unknown as PrismaClient;
    const commits = new ChangeSignal(db.url, pino({ level: "silent" }));
    const announced: ControlContext = { ...ctx, prisma: counted, changes: commits };
    commits.start();
    try {
      for (let i = 0; !commits.live; i++) {
        if (i > 100) throw new Error("the change listener did not connect in 10 s");
        await new Promise((r) => setTimeout(r, 100));
      }
      const cursor = (await feed(alice, 0)).cursor;
      reads = 0;
      const t0 = Date.now();
      // No safety look within the test: only the commit or the 30 s deadline can end the wait.
      const waiting = listChanges(announced, alice, { cursor: String(cursor), wait: "30" }, { safetyPollMs: 120_000 });
      await new Promise((r) => setTimeout(r, 1_000));
      // Polling every 200 ms would have read the feed 5 times by now.
      expect(reads).toBe(1);
      await mkdir(ctx, alice, { path: `${aliceHome}/announced`, parents: false });
      const got = ZChangesResponse.parse(await waiting);
      expect(got.changes.map((c) => c.path)).toEqual([`${aliceHome}/announced`]);
      expect(reads).toBe(2);
      // Woken by the commit, not by the deadline (a margin of 10 s: this tells the two
      // apart, it does not measure speed).
      expect(Date.now() - t0).toBeLessThan(20_000);

      // A commit the user may not see wakes it too; it reads, advances, and sleeps again.
      const next = listChanges(announced, alice, { cursor: String(got.cursor), wait: "1" });
      await mkdir(ctx, bob, { path: `${bobHome}/unseen`, parents: false });
      const after = ZChangesResponse.parse(await next);
      expect(after.changes).toEqual([]);
      expect(after.cursor).toBeGreaterThan(got.cursor);
    } finally {
      await commits.stop();
    }
  });

  it("while the listener cannot connect, long-polls poll and still see changes", async () => {
    const commits = new ChangeSignal("postgresql://nobody@127.0.0.1:1/none", pino({ level: "silent" }));
    const unannounced: ControlContext = { ...ctx, changes: commits };
    try {
      const cursor = (await feed(alice, 0)).cursor;
      const waiting = listChanges(unannounced, alice, { cursor: String(cursor), wait: "10" });
      await new Promise((r) => setTimeout(r, 300));
      expect(commits.live).toBe(false);
      await mkdir(ctx, alice, { path: `${aliceHome}/polled`, parents: false });
      const got = ZChangesResponse.parse(await waiting);
      expect(got.changes.map((c) => c.path)).toEqual([`${aliceHome}/polled`]);
    } finally {
      await commits.stop();
    }
  });
});
