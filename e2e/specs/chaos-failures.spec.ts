import { open as openFile, readFile } from "node:fs/promises";
import { test, expect } from "@playwright/test";
import { AppError } from "../../packages/protocol/src/errors.ts";
import { TestCluster } from "../fixtures/cluster.ts";
import { Chaos, KiB, rng, sha256, step } from "../fixtures/chaos.ts";

// Failures against a real cluster in a box: kill -9 of storage nodes (idle, and in the
// middle of uploads), kill -9 of the reconciler's leader during a repair, and chunks
// corrupted on disk. Small files cut into 16-64 KiB chunks keep it quick.

test.describe.configure({ mode: "serial", timeout: 240_000 });

let cluster: TestCluster;
let chaos: Chaos;
const files = new Map<string, string>(); // remote path -> sha256 of its content
const r = rng(Number(process.env.CHAOS_SEED ?? 1234));

test.beforeAll(async () => {
  cluster = await TestCluster.create({
    // HTTP between nodes: these tests are about replication, not the WAN transport.
    CUMULUS_NODE_UDT: "off",
    CUMULUS_NODE_TIMEOUT_MS: "5000",
    CUMULUS_RECONCILE_INTERVAL_MS: "500",
    CUMULUS_ORPHAN_SWEEP_MS: "4000",
    CUMULUS_GC_GRACE_MS: "3000",
    CUMULUS_NODE_SCRUB_INTERVAL_MS: "2000",
    CUMULUS_WORKERS: "2",
  });
  await cluster.start();
  chaos = await Chaos.open(cluster);
  // A fourth node: two per site.
  chaos.addNode("branch");
  await chaos.waitNodes((ns) => ns.filter((n) => n.status === "active").length === 4, 60_000, "4 active nodes");
});

test.afterAll(async () => {
  await chaos?.close();
  await cluster?.destroy();
});

async function readAll(): Promise<void> {
  for (const [p, hash] of files) expect(sha256(await chaos.read(p)), `content of ${p}`).toBe(hash);
}

test("kill -9 of one of four nodes: files stay readable, replication is restored, the returning node counts nothing twice", async () => {
  for (let i = 0; i < 12; i++) {
    const data = r.bytes(64 * KiB + r.int(200 * KiB));
    await chaos.upload(`/chaos/a/f${i}.bin`, data, { chunkSize: 32 * KiB });
    files.set(`/chaos/a/f${i}.bin`, sha256(data));
  }
  step("uploaded 12 files");
  await chaos.settle(60_000, "replication after the uploads");
  step("settled");

  const victim = "hq-2";
  const onVictim = await chaos.diskChunks(victim);
  expect(onVictim.size).toBeGreaterThan(0);
  await chaos.kill(victim);
  step(`killed ${victim}`);

  // Readable throughout: before the failure is detected, while it is repaired, after.
  const deadline = Date.now() + 90_000;
  let reads = 0;
  for (;;) {
    await readAll();
    reads++;
    const s = await chaos.sysinfo();
    const down = s.nodes.find((n) => n.name === victim)!.status === "down";
    if (down && s.underReplicated === 0 && s.repair.unavailable === 0 && s.repair.queued + s.repair.running === 0)
      break;
    expect(Date.now(), "replication restored in time").toBeLessThan(deadline);
  }
  expect(reads).toBeGreaterThan(0);
  step(`replication restored (${reads} rounds of reads)`);
  // Full replication on the remaining nodes: every chunk the victim held has 2 live copies elsewhere.
  const rows = await chaos.replicaRows();
  for (const id of onVictim) {
    const elsewhere = rows.filter((x) => x.chunkId === id && x.node !== victim && x.live);
    expect(elsewhere.length, `live copies of ${id.slice(0, 12)} without ${victim}`).toBeGreaterThanOrEqual(2);
  }

  chaos.startNode(victim);
  await chaos.waitNodes((ns) => ns.find((n) => n.name === victim)?.status === "active", 60_000, `${victim} back`);
  step(`${victim} back`);
  await chaos.settle(90_000, "the returning node to be reconciled");
  step("reconciled");
  const after = await chaos.replicaRows();
  const keys = after.map((x) => `${x.chunkId}:${x.node}`);
  expect(new Set(keys).size, "one row per chunk and node").toBe(keys.length);
  const rowsOnVictim = new Set(after.filter((x) => x.node === victim).map((x) => x.chunkId));
  expect(
    [...(await chaos.diskChunks(victim))].sort(),
    `${victim}: its disk is exactly what the database counts`,
  ).toEqual([...rowsOnVictim].sort());
  const s = await chaos.sysinfo();
  expect(s.overReplicated).toBe(0);
  await readAll();
});

test("kill -9 of a node during 50 concurrent uploads: each fails cleanly or is complete with its copies", async () => {
  // Small files (64-160 KiB in 16 KiB chunks, ~5 MiB in all) keep 50 uploads quick while
  // still giving each several chunks, so a kill can land between an upload's chunks.
  const n = 50;
  const killAt = 20;
  const jobs = Array.from({ length: n }, (_, i) => ({
    path: `/chaos/b/u${i}.bin`,
    data: r.bytes(64 * KiB + r.int(96 * KiB)),
  }));
  let killed = false;
  const results = await Promise.all(
    jobs.map(async (j, i) => {
      // Stagger the starts so the kill lands in the middle of the batch: uploads before it
      // are in flight, the ones after it start against a node that is gone but not yet down.
      await new Promise((res) => setTimeout(res, i * 60));
      if (i === killAt && !killed) {
        killed = true;
        await chaos.kill("branch-1");
        step(`killed branch-1 at upload ${i} of ${n}`);
      }
      try {
        await chaos.upload(j.path, j.data, { chunkSize: 16 * KiB });
        return { ...j, ok: true as const };
      } catch (err) {
        return { ...j, ok: false as const, err };
      }
    }),
  );
  step(
    `uploads done: ${results.filter((x) => x.ok).length} acknowledged, ${results.filter((x) => !x.ok).length} failed`,
  );
  for (const res of results.filter((x) => !x.ok)) {
    expect(res.err, `upload of ${res.path} failed with a clean AppError`).toBeInstanceOf(AppError);
  }
  const acked = results.filter((x) => x.ok);
  expect(acked.length).toBeGreaterThan(0);
  chaos.startNode("branch-1");
  // Settle only once it is back: a repair can finish before it registers again, and its
  // inventory then briefly brings its old copies back (surplus, removed right after).
  await chaos.waitNodes(
    (ns) => ns.find((n) => n.name === "branch-1")?.status === "active",
    90_000,
    "branch-1 active again",
  );
  await chaos.settle(120_000, "replication after the uploads and the kill");
  step("settled after the uploads");
  for (const a of acked) {
    expect(sha256(await chaos.read(a.path)), `acknowledged ${a.path} is readable`).toBe(sha256(a.data));
    const st = await chaos.client.stat(a.path);
    for (const c of st.chunks) expect(c.live, `${a.path} chunk copies`).toBe(c.target);
    files.set(a.path, sha256(a.data));
  }
  // A failed upload left no file behind.
  for (const f of results.filter((x) => !x.ok)) expect(await chaos.client.statIfExists(f.path)).toBeNull();
});

test("kill -9 of the reconciler's leader during a repair: the other worker finishes it", async () => {
  // Enough chunks that the repair takes a while.
  for (let i = 0; i < 6; i++) {
    const data = r.bytes(256 * KiB);
    await chaos.upload(`/chaos/c/r${i}.bin`, data, { chunkSize: 8 * KiB });
    files.set(`/chaos/c/r${i}.bin`, sha256(data));
  }
  await chaos.settle(90_000, "replication before the leader test");
  step("leader test: settled");
  const before = await chaos.sysinfo();
  const leader = before.repair.leader!;
  expect(leader).toMatch(/^worker(-\d)? \(pid \d+\)$/);

  await chaos.kill("branch-2");
  // Wait until the repair has started, then kill the leader mid-way.
  const t0 = Date.now();
  for (;;) {
    const s = await chaos.sysinfo();
    if (s.repair.copiesLastMinute > before.repair.copiesLastMinute || s.repair.queued + s.repair.running > 0) break;
    expect(Date.now() - t0, "the repair started").toBeLessThan(60_000);
    await new Promise((res) => setTimeout(res, 100));
  }
  const leaderName = leader.replace(/ \(pid \d+\)$/, "");
  const killedPid = await chaos.kill(leaderName);
  step(`killed the leader ${leader}`);
  expect(leader).toContain(`pid ${killedPid}`);

  const s = await chaos.settle(120_000, "the repair finished by the other worker");
  step(`repair finished by ${s.repair.leader}`);
  expect(s.repair.leader).not.toBe(leader);
  expect(s.underReplicated).toBe(0);
  await readAll();
  chaos.startNode("branch-2");
  await chaos.waitNodes((ns) => ns.find((n) => n.name === "branch-2")?.status === "active", 60_000, "branch-2 back");
  await chaos.settle(90_000, "branch-2 reconciled");
});

async function flipByte(file: string): Promise<void> {
  const fh = await openFile(file, "r+");
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 100);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, 100);
  } finally {
    await fh.close();
  }
}

test("a chunk corrupted on disk: reads return the right bytes, and the read path or the scrubber gets it repaired", async () => {
  const rows = await chaos.replicaRows();
  // One chunk that a read will hit, one that only the scrubber will find.
  const [readPath, readHash] = [...files.entries()][0]!;
  const st = await chaos.client.stat(readPath);
  // The replica a reader tries first: that read hits the corrupt copy and falls back.
  const plan = await chaos.client.downloadPlan(readPath);
  const victim = plan.chunks[0]!;
  const node = victim.replicas[0]!.node;
  const scrubRow = rows.find((x) => x.live && !st.chunks.some((c) => c.id === x.chunkId))!;
  await flipByte(chaos.chunkPath(node, victim.id));
  await flipByte(chaos.chunkPath(scrubRow.node, scrubRow.chunkId));

  expect(sha256(await chaos.read(readPath))).toBe(readHash);
  expect(sha256(await chaos.read(readPath))).toBe(readHash);

  const healed = async (n: string, id: string) => {
    try {
      return sha256(await readFile(chaos.chunkPath(n, id))) === id;
    } catch {
      return false;
    }
  };
  await expect
    .poll(async () => (await healed(scrubRow.node, scrubRow.chunkId)) && (await healed(node, victim.id)), {
      timeout: 90_000,
      message: "both corrupt copies replaced by good ones",
    })
    .toBe(true);
  const s = await chaos.settle(60_000, "after the repairs of corrupt chunks");
  expect(s.underReplicated).toBe(0);
  const audit = await chaos.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'node.chunks_bad'`,
  );
  expect(audit[0]!.n).toBeGreaterThanOrEqual(1);
  await readAll();
});
