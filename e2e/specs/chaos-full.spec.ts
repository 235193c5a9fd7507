import { test, expect } from "@playwright/test";
import { TestCluster } from "../fixtures/cluster.ts";
import { Chaos, KiB, rng, sha256, step } from "../fixtures/chaos.ts";

// A storage node that runs out of room (ADR 0013), on real node processes whose capacity
// the box limits to 160 MiB each: it takes no new replicas once it reports less than 64 MiB
// free, an upload that can only go there is refused with the node named, other uploads go
// around it, and once garbage collection gives it room back the copies that waited move
// onto it.

test.describe.configure({ mode: "serial", timeout: 240_000 });

const MiB = 1024 * KiB;
const CAPACITY = 160 * MiB;
const FULL_BELOW = 64 * MiB; // control/nodes/fullness.ts: 2 % of capacity, at least 64 MiB

let cluster: TestCluster;
let chaos: Chaos;
const r = rng(Number(process.env.CHAOS_SEED ?? 4242));
const pinned: string[] = []; // files in /branch-only, whose one copy must be in site branch
const open = new Map<string, string>(); // files under the default policy → sha256

test.beforeAll(async () => {
  cluster = await TestCluster.create({
    CUMULUS_NODE_UDT: "off",
    CUMULUS_NODE_CAPACITY_BYTES: "160MiB",
    CUMULUS_RECONCILE_INTERVAL_MS: "500",
    CUMULUS_ORPHAN_SWEEP_MS: "2000",
    CUMULUS_GC_GRACE_MS: "1000",
  });
  await cluster.start();
  chaos = await Chaos.open(cluster);
});

test.afterAll(async () => {
  await chaos?.close();
  await cluster?.destroy();
});

async function node(name: string) {
  const n = (await chaos.sysinfo()).nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name} in sysinfo`);
  return n;
}

/** Waits for a heartbeat of `name` that satisfies `pred` (usage is as fresh as the last one). */
async function waitNode(name: string, pred: (n: Awaited<ReturnType<typeof node>>) => boolean, what: string) {
  const s = await chaos.waitNodes((ns) => ns.some((n) => n.name === name && pred(n)), 60_000, what);
  return s.nodes.find((n) => n.name === name)!;
}

test("a node short of room takes no new replicas: uploads that need it are refused, naming it; others go around it", async () => {
  for (const n of (await chaos.sysinfo()).nodes) {
    expect(n.capacityBytes, `${n.name}'s capacity`).toBe(CAPACITY);
    expect(n.full).toBe(false);
  }
  await chaos.client.mkdir("/branch-only", { parents: true });
  await chaos.client.setPolicy({ path: "/branch-only", replicas: 1, allowedSites: ["branch"] });

  // Fill branch-1, the only node in site branch, 8 MiB at a time; after each upload wait for
  // the heartbeat that reports it, so the control plane always knows the node's free space.
  let stored = 0;
  let refusal: Error | null = null;
  for (let i = 0; i < 20 && !refusal; i++) {
    const p = `/branch-only/f${i}.bin`;
    try {
      await chaos.upload(p, r.bytes(8 * MiB), { chunkSize: 1 * MiB, attempts: 1, restarts: 0 });
    } catch (err) {
      refusal = err as Error;
      expect(await chaos.client.statIfExists(p), "a refused upload leaves no file").toBeNull();
      break;
    }
    pinned.push(p);
    stored += 8 * MiB;
    await waitNode("branch-1", (n) => n.usedBytes >= stored, `branch-1 to report ${stored} bytes used`);
  }
  step(`branch-1 took ${pinned.length} files of 8 MiB before refusing: ${refusal?.message}`);
  expect(refusal, "uploads to a full node's only site end in a refusal").not.toBeNull();
  expect(refusal!.message).toMatch(/needs 1 replica but only 0 eligible storage nodes are active in branch/);
  expect(refusal!.message).toMatch(/full: branch-1/);
  expect(refusal!.message).toMatch(/free space on the full nodes/);
  const b1 = await node("branch-1");
  expect(b1.full).toBe(true);
  expect(b1.availableBytes).toBeLessThan(FULL_BELOW);
  expect(b1.usedBytes).toBeGreaterThanOrEqual(CAPACITY - FULL_BELOW);
  expect(b1.usedBytes).toBeLessThanOrEqual(CAPACITY);
  const heldByBranch = await chaos.diskChunks("branch-1");

  // The default policy (2 copies, spread over both sites) still takes uploads: both copies
  // go to site hq, and nothing new lands on branch-1.
  const openChunks = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const data = r.bytes(2 * MiB);
    const p = `/open/o${i}.bin`;
    await chaos.upload(p, data, { chunkSize: 512 * KiB });
    open.set(p, sha256(data));
    for (let off = 0; off < data.length; off += 512 * KiB) openChunks.add(sha256(data.subarray(off, off + 512 * KiB)));
  }
  for (const p of open.keys()) {
    for (const c of (await chaos.client.stat(p)).chunks) {
      expect(c.replicas.map((x) => x.node).sort(), `copies of ${c.id.slice(0, 12)}`).toEqual(["hq-1", "hq-2"]);
    }
  }
  const now = await chaos.diskChunks("branch-1");
  expect([...now].filter((id) => !heldByBranch.has(id))).toEqual([]);
  expect([...openChunks].filter((id) => now.has(id))).toEqual([]);

  // Placement still wants one copy of each in site branch: they wait there as misplaced,
  // never under-replicated, and the reconciler sends nothing to the full node.
  expect((await chaos.sysinfo()).underReplicated).toBe(0);
  await expect.poll(async () => (await chaos.sysinfo()).misplaced, { timeout: 30_000 }).toBeGreaterThan(0);
  // Two more reconciler scans (the leader publishes its status after each): had either
  // planned a copy onto the full node, it would be there now.
  let scans = 0;
  let last = (await chaos.sysinfo()).repair.updatedAt;
  await expect
    .poll(
      async () => {
        const r = (await chaos.sysinfo()).repair;
        if (r.updatedAt !== last) [scans, last] = [scans + 1, r.updatedAt];
        return scans >= 2 && r.queued + r.running === 0;
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  expect([...(await chaos.diskChunks("branch-1"))].filter((id) => !heldByBranch.has(id))).toEqual([]);
  for (const [p, hash] of open) expect(sha256(await chaos.read(p)), p).toBe(hash);
});

test("once it has room again, the copies that waited move onto it and uploads that need it work again", async () => {
  // Purge the pinned files (delete, then empty them from the trash as the web UI does):
  // their chunks become garbage, and garbage collection frees branch-1.
  await chaos.client.delete("/branch-only", { recursive: true });
  await chaos.sql(`DELETE FROM "Entry" WHERE "trashedAt" IS NOT NULL`);
  await waitNode("branch-1", (n) => !n.full, "branch-1 to have room again");

  const s = await chaos.settle(120_000, "the waiting copies to reach branch-1");
  expect(s.misplaced).toBe(0);
  const onBranch = await chaos.diskChunks("branch-1");
  for (const p of open.keys()) {
    for (const c of (await chaos.client.stat(p)).chunks) {
      const sites = c.replicas.filter((x) => x.state === "stored").map((x) => x.site);
      expect(sites.sort(), `sites of ${c.id.slice(0, 12)}`).toEqual(["branch", "hq"]);
      expect(onBranch.has(c.id)).toBe(true);
    }
  }

  await chaos.client.mkdir("/branch-only", { parents: true });
  await chaos.client.setPolicy({ path: "/branch-only", replicas: 1, allowedSites: ["branch"] });
  const again = r.bytes(8 * MiB);
  await chaos.upload("/branch-only/again.bin", again, { chunkSize: 1 * MiB, attempts: 1, restarts: 0 });
  expect(sha256(await chaos.read("/branch-only/again.bin"))).toBe(sha256(again));
  for (const [p, hash] of open) expect(sha256(await chaos.read(p)), p).toBe(hash);
});

test("npm run node -- add --capacity gives one node its own capacity; a size it cannot read is refused", () => {
  const bad = cluster.nodeCommand("add", "--site", "lab", "--capacity", "lots");
  expect(bad.status).not.toBe(0);
  expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  expect(bad.stderr).toMatch(/--capacity: cannot read "lots" as a size/);

  const name = chaos.addNode("lab", "--capacity", "200MiB");
  return waitNode(name, (n) => n.status === "active" && n.capacityBytes === 200 * MiB, `${name} active, 200 MiB`);
});
