import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { mkdir } from "./mkdir.ts";
import { listFolder } from "./list.ts";
import { deleteEntry } from "./delete.ts";
import { fakeChunk, setupCluster, upload, type TestNode } from "./test-fixtures.ts";
import { listAllEntries, listFirstEntries } from "./list-page.ts";

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  ({ db, ctx, alice, bob, home, nodes } = await setupCluster({ replicas: 1, nodes: [["hq-1", "hq"]] }));
});
afterAll(async () => {
  await db?.drop();
});

describe("browser listings", () => {
  it("list the same entries in the same order as listFolder, in one query, and the first page of them", async () => {
    const dir = `${home}/mixed`;
    await mkdir(ctx, alice, { path: dir, parents: false });
    for (const name of ["Zeta", "alpha", "Ärger", "10", "9", "_x", "émile"]) {
      await mkdir(ctx, alice, { path: `${dir}/${name} dir`, parents: false });
      await upload(ctx, alice, nodes, `${dir}/${name}.txt`, [fakeChunk(3)]);
    }
    await upload(ctx, alice, nodes, `${dir}/Zeta.txt`, [fakeChunk(4)], { baseVersion: 1 });
    await deleteEntry(ctx, alice, { path: `${dir}/alpha.txt`, recursive: false });
    const reference = await listFolder(ctx, alice, { path: dir });
    const all = await listAllEntries(ctx, alice, { path: dir });
    expect(all).not.toBeNull();
    expect(all!.entries).toEqual(reference.entries);
    expect(all!.entries.find((e) => e.name === "Zeta.txt")!.version).toBe(2);
    const first = await listFirstEntries(ctx, alice, { path: dir, limit: 4 });
    expect(first!.entries).toEqual(reference.entries.slice(0, 4));
    expect(first!.total).toBe(reference.entries.length);

    // A file lists as itself; a missing path is NOT_FOUND; a folder one may only pass through is left to listFolder.
    expect((await listAllEntries(ctx, alice, { path: `${dir}/Zeta.txt` }))!.entries.map((e) => e.path)).toEqual([
      `${dir}/Zeta.txt`,
    ]);
    await expect(listAllEntries(ctx, alice, { path: `${dir}/nope` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await listAllEntries(ctx, alice, { path: "/home" })).toBeNull();
    expect(await listFirstEntries(ctx, alice, { path: "/home" })).toBeNull();
    await expect(listAllEntries(ctx, bob, { path: dir })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
