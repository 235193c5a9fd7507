import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { deleteEntry } from "../fs/delete.ts";
import { grantShare } from "../shares/grants.ts";
import { setUserQuota } from "../users/users.ts";
import { me } from "../users/account.ts";
import {
  addNode,
  createUser,
  fakeChunk,
  manifest,
  receiptsFor,
  testContext,
  upload,
  type TestNode,
} from "../fs/test-fixtures.ts";
import { beginUpload } from "./begin-upload.ts";
import { commitUpload } from "./commit-upload.ts";

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let nodes: TestNode[];

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 1 });
  admin = await createUser(ctx, "admin@corp.test", { role: "admin" });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  home = (await whoami(ctx, alice)).home;
  await whoami(ctx, bob);
  nodes = [await addNode(ctx, "hq-1", "hq"), await addNode(ctx, "hq-2", "hq")];
  await setUserQuota(ctx, admin, { id: alice.id, quotaBytes: 10_000 });
});
afterAll(async () => {
  await db?.drop();
});

async function snapshot() {
  const p = ctx.prisma;
  return {
    entries: await p.entry.count(),
    versions: await p.fileVersion.count(),
    chunks: await p.chunk.count(),
    replicas: await p.chunkReplica.count(),
    changes: await p.change.count(),
    uploads: await p.upload.count(),
  };
}

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("quotas on upload", () => {
  it("refuses at begin a file that does not fit, saying what is used and allowed, and changes nothing", async () => {
    await upload(ctx, alice, nodes, `${home}/a.bin`, [fakeChunk(6_000)]);
    const before = await snapshot();
    const err = await refusal(
      beginUpload(ctx, alice, {
        path: `${home}/b.bin`,
        ...manifest([fakeChunk(5_000)]),
        baseVersion: null,
        parents: false,
      }),
    );
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.httpStatus).toBe(507);
    expect(err.details).toMatchObject({ usedBytes: 6_000, quotaBytes: 10_000, requestedBytes: 5_000 });
    expect(err.message).toContain(`${home}/b.bin`);
    expect(err.message).toMatch(/9\.8 KiB with 5\.9 KiB used/);
    expect(await snapshot()).toEqual(before);
    expect(await me(ctx, alice)).toMatchObject({ usedBytes: 6_000, quotaBytes: 10_000 });
  });

  it("lets a file that fits exactly through", async () => {
    const r = await upload(ctx, alice, nodes, `${home}/exact.bin`, [fakeChunk(4_000)]);
    expect(r.version).toBe(1);
    expect((await me(ctx, alice)).usedBytes).toBe(10_000);
  });

  it("refuses at commit when another upload filled the quota after begin, leaving the upload to retry", async () => {
    await deleteEntry(ctx, alice, { path: `${home}/exact.bin` });
    const one = await beginUpload(ctx, alice, {
      path: `${home}/one.bin`,
      ...manifest([fakeChunk(3_000)]),
      baseVersion: null,
      parents: false,
    });
    const two = await beginUpload(ctx, alice, {
      path: `${home}/two.bin`,
      ...manifest([fakeChunk(3_000)]),
      baseVersion: null,
      parents: false,
    });
    await commitUpload(ctx, alice, one.uploadId, { receipts: await receiptsFor(one, nodes) });
    const before = await snapshot();
    const err = await refusal(commitUpload(ctx, alice, two.uploadId, { receipts: await receiptsFor(two, nodes) }));
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.details).toMatchObject({ usedBytes: 9_000, quotaBytes: 10_000, requestedBytes: 3_000 });
    expect(await snapshot()).toEqual(before);
  });

  it("counts only growth for a new version, so shrinking a file always works", async () => {
    // a.bin is 6,000 of the 9,000 used: 6,900 fits (growth 900), 8,000 does not.
    const err = await refusal(
      beginUpload(ctx, alice, {
        path: `${home}/a.bin`,
        ...manifest([fakeChunk(8_000)]),
        baseVersion: 1,
        parents: false,
      }),
    );
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.details).toMatchObject({ requestedBytes: 2_000 });
    await upload(ctx, alice, nodes, `${home}/a.bin`, [fakeChunk(6_900)], { baseVersion: 1 });
    await setUserQuota(ctx, admin, { id: alice.id, quotaBytes: 1_000 });
    const shrunk = await upload(ctx, alice, nodes, `${home}/a.bin`, [fakeChunk(100)], { baseVersion: 2 });
    expect(shrunk.version).toBe(3);
  });

  it("charges a write through a share to the file's owner, and users without a quota are not limited", async () => {
    await setUserQuota(ctx, admin, { id: alice.id, quotaBytes: 3_200 });
    await grantShare(ctx, alice, {
      path: `${home}/one.bin`,
      principal: { type: "user", email: "bob@corp.test" },
      permission: "write",
    });
    // Alice uses 100 + 3,000 = 3,100; Bob replacing her 3,000-byte file with 3,200 bytes adds 200.
    const err = await refusal(
      beginUpload(ctx, bob, {
        path: `${home}/one.bin`,
        ...manifest([fakeChunk(3_200)]),
        baseVersion: 1,
        parents: false,
      }),
    );
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.details).toMatchObject({ owner: "alice@corp.test", usedBytes: 3_100, quotaBytes: 3_200 });
    const bobHome = (await whoami(ctx, bob)).home;
    const big = await upload(ctx, bob, nodes, `${bobHome}/big.bin`, [fakeChunk(50_000)]);
    expect(big.version).toBe(1);
  });
});
