import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@cumulus/db/testing/database";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { whoami } from "../fs/home.ts";
import { deleteEntry } from "../fs/delete.ts";
import { mkdir } from "../fs/mkdir.ts";
import { restoreFromTrash } from "../fs/trash.ts";
import { restoreVersion } from "../fs/versions.ts";
import { grantShare } from "../shares/grants.ts";
import { setUserQuota } from "../users/users.ts";
import { me } from "../users/account.ts";
import {
  createUser,
  fakeChunk,
  manifest,
  receiptsFor,
  setupCluster,
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
  ({ db, ctx, alice, bob, home, nodes } = await setupCluster({
    replicas: 1,
    nodes: [
      ["hq-1", "hq"],
      ["hq-2", "hq"],
    ],
  }));
  admin = await createUser(ctx, "admin@corp.test", { role: "admin" });
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

describe("quotas on restore and delete", () => {
  let carol: AuthUser;
  let chome: string;
  beforeAll(async () => {
    carol = await createUser(ctx, "carol@corp.test");
    chome = (await whoami(ctx, carol)).home;
    await setUserQuota(ctx, admin, { id: carol.id, quotaBytes: 10_000 });
  });

  it("frees the bytes of files inside a deleted folder, and refuses to restore it over quota", async () => {
    const dir = await mkdir(ctx, carol, { path: `${chome}/dir`, parents: false });
    await upload(ctx, carol, nodes, `${chome}/dir/x.bin`, [fakeChunk(4_000)]);
    await mkdir(ctx, carol, { path: `${chome}/dir/sub`, parents: false });
    await upload(ctx, carol, nodes, `${chome}/dir/sub/y.bin`, [fakeChunk(3_000)]);
    expect((await me(ctx, carol)).usedBytes).toBe(7_000);

    await deleteEntry(ctx, carol, { path: `${chome}/dir`, recursive: true });
    expect((await me(ctx, carol)).usedBytes).toBe(0);

    await upload(ctx, carol, nodes, `${chome}/new.bin`, [fakeChunk(5_000)]);
    const before = await snapshot();
    const err = await refusal(restoreFromTrash(ctx, carol, { id: dir.id }));
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.details).toMatchObject({ usedBytes: 5_000, quotaBytes: 10_000, requestedBytes: 7_000 });
    expect(await snapshot()).toEqual(before);

    await setUserQuota(ctx, admin, { id: carol.id, quotaBytes: 12_000 });
    await restoreFromTrash(ctx, carol, { id: dir.id });
    expect((await me(ctx, carol)).usedBytes).toBe(12_000);
  });

  it("refuses to restore an older, bigger version over quota and changes nothing", async () => {
    await setUserQuota(ctx, admin, { id: carol.id, quotaBytes: 20_000 });
    await upload(ctx, carol, nodes, `${chome}/v.bin`, [fakeChunk(6_000)]);
    await upload(ctx, carol, nodes, `${chome}/v.bin`, [fakeChunk(1_000)], { baseVersion: 1 });
    // Used: 12,000 + 1,000 = 13,000; version 1 would add 5,000.
    await setUserQuota(ctx, admin, { id: carol.id, quotaBytes: 15_000 });
    const before = await snapshot();
    const err = await refusal(restoreVersion(ctx, carol, { path: `${chome}/v.bin`, version: 1 }));
    expect(err.code).toBe("QUOTA_EXCEEDED");
    expect(err.details).toMatchObject({ usedBytes: 13_000, requestedBytes: 5_000 });
    expect(await snapshot()).toEqual(before);
    await setUserQuota(ctx, admin, { id: carol.id, quotaBytes: 18_000 });
    expect((await restoreVersion(ctx, carol, { path: `${chome}/v.bin`, version: 1 })).version).toBe(3);
  });
});
