import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { pino } from "pino";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { SessionLock } from "@cumulus/db/session-lock";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { createUser, testContext } from "../fs/test-fixtures.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { deleteEntry } from "../fs/delete.ts";
import { purgeEntry } from "../fs/purge.ts";
import { statEntry } from "../fs/stat.ts";
import { setPolicy } from "../policies/policy.ts";
import { sysinfo } from "../cluster/sysinfo.ts";
import { drainNode, nodeDrainStatus, removeNode } from "../nodes/drain-node.ts";
import { reportChunks } from "../nodes/report-chunks.ts";
import { DEFAULT_RECONCILER_CONFIG, LEADER_LOCK, type ReconcilerConfig } from "./config.ts";
import { Reconciler } from "./reconciler.ts";
import { randomChunks, startFakeNodes, uploadFile, type FakeNode } from "./testing.ts";

// The reconciler against a real PostgreSQL (its graphile-worker queue included) and
// storage nodes that speak the data API over HTTP (testing.ts).

let db: TestDatabase;
let ctx: ControlContext;
let admin: AuthUser;
let home: string;
let nodes: FakeNode[];
const dead = new Set<string>();
let pump: NodeJS.Timeout;
let stop: AbortController;
let running: Promise<void>;

const cfg: ReconcilerConfig = {
  ...DEFAULT_RECONCILER_CONFIG,
  scanIntervalMs: 200,
  gcGraceMs: 600,
  orphanSweepMs: 800,
  concurrency: 8,
  maxAttempts: 4,
};

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { nodeTimeoutMs: 4_000, defaultReplicas: 2 });
  if (process.env.RECONCILER_TEST_LOG)
    ctx.log = pino({ level: "debug" }, pino.destination(process.env.RECONCILER_TEST_LOG));
  admin = await createUser(ctx, "root@corp.test", { role: "admin" });
  home = (await whoami(ctx, admin)).home;
  nodes = await startFakeNodes(ctx, [
    ["hq-1", "hq"],
    ["hq-2", "hq"],
    ["branch-1", "branch"],
    ["branch-2", "branch"],
  ]);
  // Heartbeats of the nodes that are up.
  const beat = () =>
    ctx.prisma.storageNode
      .updateMany({
        where: { id: { in: nodes.filter((n) => !dead.has(n.id)).map((n) => n.id) } },
        data: { lastHeartbeatAt: new Date() },
      })
      .catch(() => undefined);
  await beat();
  pump = setInterval(() => void beat(), 500);
  stop = new AbortController();
  running = new Reconciler(ctx, cfg, { databaseUrl: db.url, name: "test" }).lead(stop.signal);
}, 120_000);

afterAll(async () => {
  clearInterval(pump);
  stop?.abort();
  await running?.catch(() => undefined);
  for (const n of nodes ?? []) await n.close();
  await db?.drop();
});

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not reached in ${timeoutMs} ms; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

/** Replica rows vs what the nodes hold, per chunk. */
async function picture() {
  const rows = await ctx.prisma.chunkReplica.findMany({ select: { chunkId: true, nodeId: true, state: true } });
  return rows;
}

/** Nothing to repair, move or delete, and every live node's rows confirmed by its inventory. */
async function settled() {
  return until(
    "a settled cluster",
    async () => {
      const s = await sysinfo(ctx);
      const pending = await ctx.prisma.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM "ChunkReplica" r JOIN "StorageNode" n ON n.id = r."nodeId"
        WHERE n.status IN ('active', 'draining') AND (r.epoch <> n.epoch OR r.state <> 'stored')`;
      return { ...s, pending: pending[0]!.n };
    },
    (s) =>
      s.pending === 0 &&
      s.underReplicated === 0 &&
      s.overReplicated === 0 &&
      s.misplaced === 0 &&
      s.repair.queued + s.repair.running === 0,
  );
}

describe("reconciler", () => {
  it("repairs onto the remaining nodes when a node dies, and reconciles it when it returns", async () => {
    for (let i = 0; i < 3; i++) await uploadFile(ctx, admin, nodes, `${home}/f${i}`, randomChunks(5));
    await settled();
    const victim = nodes.find((n) => n.chunks.size > 0)!;
    const onVictim = new Set(victim.chunks.keys());
    const callsBefore = nodes.reduce((t, n) => t + n.replicateCalls, 0);

    dead.add(victim.id);
    await ctx.prisma.storageNode.update({
      where: { id: victim.id },
      data: { lastHeartbeatAt: new Date(0), status: "down" },
    });
    const s = await until(
      "repair after the failure",
      () => sysinfo(ctx),
      (x) => x.underReplicated === 0 && x.repair.unavailable === 0 && x.repair.queued + x.repair.running === 0,
    );
    expect(s.repair.copiesLastMinute).toBeGreaterThanOrEqual(onVictim.size);
    // The repair's throughput is visible (sysinfo, dashboard) while it is recent.
    expect(s.repair.bytesLastMinute).toBeGreaterThanOrEqual(onVictim.size * 2000);
    expect(s.repair.bytesPerSec).toBeGreaterThan(0);
    // Copies travelled in batches, not one request per chunk.
    const calls = nodes.reduce((t, n) => t + n.replicateCalls, 0) - callsBefore;
    expect(calls).toBeLessThan(onVictim.size);
    for (const id of onVictim) {
      const holders = nodes.filter((n) => n !== victim && n.chunks.has(id));
      expect(holders.length, `chunk ${id} copies on the remaining nodes`).toBeGreaterThanOrEqual(2);
    }

    // It comes back (new epoch) still holding its old chunks: they are confirmed, then the
    // surplus is removed; nothing is counted twice.
    dead.delete(victim.id);
    await victim.register(ctx);
    await settled();
    const rows = await picture();
    const keys = rows.map((r) => `${r.chunkId}:${r.nodeId}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const n of nodes) {
      const mine = rows
        .filter((r) => r.nodeId === n.id)
        .map((r) => r.chunkId)
        .sort();
      expect(mine, `${n.name}: rows = what it holds`).toEqual([...n.chunks.keys()].sort());
    }
    for (const id of new Set(rows.map((r) => r.chunkId))) expect(rows.filter((r) => r.chunkId === id)).toHaveLength(2);
  });

  it("drains a node without ever under-replicating, refuses to remove it before, removes it after", async () => {
    const victim = nodes.find((n) => n.chunks.size > 0)!;
    await expect(removeNode(ctx, admin, { node: victim.name })).rejects.toMatchObject({ code: "CONFLICT" });
    await drainNode(ctx, admin, { node: victim.name });
    const samples: number[] = [];
    await until(
      "drained",
      async () => {
        const s = await sysinfo(ctx);
        samples.push(s.underReplicated);
        return nodeDrainStatus(ctx, { node: victim.name });
      },
      (d) => d.replicas === 0,
    );
    expect(
      samples.every((u) => u === 0),
      `under-replicated samples: ${samples.join(",")}`,
    ).toBe(true);
    expect(victim.chunks.size).toBe(0);
    const removed = await removeNode(ctx, admin, { node: victim.name });
    expect(removed.status).toBe("decommissioned");
    dead.add(victim.id);
    // A copy that was in flight when the node was removed may still record a row there:
    // it is forgotten, or it would keep its chunk from ever being collected.
    const late = await ctx.prisma.chunk.findFirstOrThrow({ select: { id: true } });
    await ctx.prisma.$executeRaw`
      INSERT INTO "ChunkReplica" ("chunkId", "nodeId", state, epoch, "createdAt", "verifiedAt")
      VALUES (${late.id}, ${victim.id}::uuid, 'stored', ${victim.epoch}, now(), now())`;
    await until(
      "the late row forgotten",
      () => ctx.prisma.chunkReplica.count({ where: { nodeId: victim.id } }),
      (n) => n === 0,
    );
    await settled();
  });

  it("converges on policy changes: 3 replicas with a required site, then 1", async () => {
    await mkdir(ctx, admin, { path: `${home}/p`, parents: false });
    const chunks = randomChunks(6);
    await uploadFile(ctx, admin, nodes, `${home}/p/x`, chunks);
    await setPolicy(ctx, admin, { path: `${home}/p`, replicas: 3, requiredSites: ["branch"] });
    await settled();
    const st = await statEntry(ctx, admin, { path: `${home}/p/x` });
    for (const c of st.chunks) {
      expect(c.live).toBe(3);
      expect(c.target).toBe(3);
      expect(c.replicas.some((r) => r.site === "branch")).toBe(true);
    }
    await setPolicy(ctx, admin, { path: `${home}/p`, replicas: 1, requiredSites: [] });
    await settled();
    const one = await statEntry(ctx, admin, { path: `${home}/p/x` });
    for (const c of one.chunks) expect(c.replicas).toHaveLength(1);
  });

  it("replaces a replica its node reports corrupt from a good copy", async () => {
    await uploadFile(ctx, admin, nodes, `${home}/c`, randomChunks(2));
    await settled();
    const st = await statEntry(ctx, admin, { path: `${home}/c` });
    const chunk = st.chunks[0]!;
    const holder = nodes.find((n) => n.id === chunk.replicas[0]!.nodeId)!;
    const good = holder.chunks.get(chunk.id)!.data;
    holder.chunks.set(chunk.id, { data: Buffer.from(good).fill(7), mtimeMs: Date.now() - 60_000 });
    const jwt = await new SignJWT({ epoch: holder.epoch })
      .setProtectedHeader({ alg: "EdDSA" })
      .setSubject(holder.id)
      .setAudience("cumulus-control")
      .setIssuedAt()
      .setExpirationTime("60s")
      .sign(holder.privateKey);
    // The node quarantines before it reports: the bad file is gone.
    holder.chunks.delete(chunk.id);
    expect(await reportChunks(ctx, `Bearer ${jwt}`, { corrupt: [chunk.id], source: "scrub" })).toEqual({ marked: 1 });
    await until(
      "the corrupt copy replaced",
      () => ctx.prisma.chunkReplica.findUnique({ where: { chunkId_nodeId: { chunkId: chunk.id, nodeId: holder.id } } }),
      (r) => r?.state === "stored",
    );
    expect(holder.chunks.get(chunk.id)!.data.equals(good)).toBe(true);
    await settled();
  });

  it("collects garbage after the grace period, never a chunk an upload in progress lists", async () => {
    const live = nodes.filter((n) => !dead.has(n.id));
    const doomed = randomChunks(3);
    await uploadFile(ctx, admin, live, `${home}/gone`, doomed);
    const pending = randomChunks(2);
    await uploadFile(ctx, admin, live, `${home}/pending`, pending, { commit: false });
    const stray = randomChunks(1)[0]!;
    live[0]!.chunks.set(stray.id, { data: stray.data, mtimeMs: Date.now() - 60_000 + 0.75 }); // file times have sub-ms precision
    await settled();

    const trashed = await deleteEntry(ctx, admin, { path: `${home}/gone`, recursive: false });
    await purgeEntry(ctx, admin, { id: trashed.id });
    await until(
      "garbage collected",
      async () => ({
        rows: await ctx.prisma.chunk.count({ where: { id: { in: doomed.map((c) => c.id) } } }),
        files: live.reduce((s, n) => s + doomed.filter((c) => n.chunks.has(c.id)).length, 0),
        stray: live[0]!.chunks.has(stray.id),
      }),
      (x) => x.rows === 0 && x.files === 0 && !x.stray,
    );
    // The upload in progress still has its chunks on the nodes.
    for (const c of pending) expect(live.some((n) => n.chunks.has(c.id))).toBe(true);
  });
});

describe("leader lock", () => {
  it("is held by one session at a time and free again when it is released", async () => {
    const a = await SessionLock.tryAcquire(db.url, LEADER_LOCK.namespace, 99);
    expect(a).not.toBeNull();
    expect(await SessionLock.tryAcquire(db.url, LEADER_LOCK.namespace, 99)).toBeNull();
    await a!.release();
    const b = await SessionLock.tryAcquire(db.url, LEADER_LOCK.namespace, 99);
    expect(b).not.toBeNull();
    await b!.release();
  });
});
