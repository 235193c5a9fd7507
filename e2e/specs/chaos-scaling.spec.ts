import path from "node:path";
import { test, expect } from "@playwright/test";
import { TestCluster, repoRoot } from "../fixtures/cluster.ts";
import { Chaos, KiB, rng, sha256 } from "../fixtures/chaos.ts";
import { run, type Run } from "../fixtures/process.ts";

// Dynamic scaling and policy changes: a node joins and gets its share, a node drains
// (sampling sysinfo all along: never under-replicated) and is removed with the CLI, and a
// folder's policy goes from 2 to 3 copies and back to 1, in the sites it names.

test.describe.configure({ mode: "serial", timeout: 240_000 });

const CLI = path.join(repoRoot, "packages", "cli", "bin", "cumulus.js");

let cluster: TestCluster;
let chaos: Chaos;
const files = new Map<string, string>();
const r = rng(Number(process.env.CHAOS_SEED ?? 777));

function cumulus(args: string[]): Promise<Run> {
  return run(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: cluster.dataDir, CUMULUS_SERVER: cluster.url, CUMULUS_TOKEN: chaos.token },
  });
}

test.beforeAll(async () => {
  cluster = await TestCluster.create({
    // HTTP between nodes: these tests are about replication, not the WAN transport.
    CUMULUS_NODE_UDT: "off",
    CUMULUS_NODE_TIMEOUT_MS: "8000",
    CUMULUS_RECONCILE_INTERVAL_MS: "500",
    CUMULUS_ORPHAN_SWEEP_MS: "4000",
    CUMULUS_GC_GRACE_MS: "3000",
  });
  await cluster.start();
  chaos = await Chaos.open(cluster);
  for (let i = 0; i < 10; i++) {
    const data = r.bytes(128 * KiB + r.int(128 * KiB));
    await chaos.upload(`/scale/f${i}.bin`, data, { chunkSize: 16 * KiB });
    files.set(`/scale/f${i}.bin`, sha256(data));
  }
  await chaos.settle(60_000, "replication after the uploads");
});

test.afterAll(async () => {
  await chaos?.close();
  await cluster?.destroy();
});

async function readAll(): Promise<void> {
  for (const [p, hash] of files) expect(sha256(await chaos.read(p)), `content of ${p}`).toBe(hash);
}

test("a new node receives a fair share of the chunks; only chunks placement moves are copied", async () => {
  const before = (await chaos.sysinfo()).repair;
  const chunks = (await chaos.sql<{ n: number }>(`SELECT count(*)::int AS n FROM "Chunk"`))[0]!.n;
  const added = chaos.addNode("branch");
  await chaos.waitNodes((ns) => ns.find((n) => n.name === added)?.status === "active", 60_000, `${added} active`);
  const s = await chaos.settle(120_000, "the rebalance onto the new node");
  const onNew = (await chaos.diskChunks(added)).size;
  // Four equal nodes, 2 copies: a fair share is 2/4 of the chunks; allow for hashing noise.
  expect(onNew, `${added} holds ${onNew} of ${chunks} chunks`).toBeGreaterThan(chunks * 0.35);
  expect(onNew).toBeLessThan(chunks * 0.65);
  // Each chunk that moved was copied once: no more copies than the new node holds.
  expect(s.repair.copiesLastMinute - before.copiesLastMinute).toBeLessThanOrEqual(onNew);
  await readAll();
});

test("cumulus node drain: the node ends with zero chunks and nothing was ever under-replicated; then node remove", async () => {
  const victim = "hq-1";
  expect((await chaos.diskChunks(victim)).size).toBeGreaterThan(0);
  // Refused while it holds needed copies, without waiting.
  const early = await cumulus(["node", "remove", victim, "--no-wait"]);
  expect(early.code, early.stderr).toBe(6);
  expect(early.stderr).toMatch(/still holds \d+ chunks? that need its copy/);

  const samples: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const s = await chaos.sysinfo();
      samples.push(s.underReplicated + s.repair.unavailable);
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  const drained = await cumulus(["node", "drain", victim, "--wait", "--timeout", "180", "--json"]);
  sampling = false;
  await sampler;
  expect(drained.code, drained.stderr).toBe(0);
  expect(JSON.parse(drained.stdout)).toMatchObject({ name: victim, status: "draining", replicas: 0, needed: 0 });
  expect(samples.length).toBeGreaterThan(3);
  expect(
    samples.every((u) => u === 0),
    `under-replicated samples during the drain: ${samples.join(",")}`,
  ).toBe(true);
  await expect.poll(async () => (await chaos.diskChunks(victim)).size, { timeout: 30_000 }).toBe(0);

  const removed = await cumulus(["node", "remove", victim, "--json"]);
  expect(removed.code, removed.stderr).toBe(0);
  expect(JSON.parse(removed.stdout)).toMatchObject({ name: victim, status: "decommissioned" });
  const list = await cumulus(["node", "list"]);
  expect(list.stdout).toMatch(new RegExp(`^${victim}\\s+hq\\s+decommissioned`, "m"));
  await chaos.settle(60_000, "after the removal");
  await readAll();
});

test("a folder from 2 to 3 replicas with a required site, then down to 1 allowed in one site", async () => {
  await chaos.client.mkdir("/scale/policy", { parents: true });
  for (let i = 0; i < 4; i++) {
    const data = r.bytes(64 * KiB + r.int(64 * KiB));
    await chaos.upload(`/scale/policy/p${i}.bin`, data, { chunkSize: 16 * KiB });
    files.set(`/scale/policy/p${i}.bin`, sha256(data));
  }
  await chaos.client.setPolicy({ path: "/scale/policy", replicas: 3, requiredSites: ["hq"] });
  await chaos.settle(120_000, "3 replicas");
  const three = await cumulus(["stat", "/scale/policy/p0.bin"]);
  expect(three.stdout).toMatch(/Replication:\s+(\d+) of \1 chunks at their target \(3 copies each\)/);
  for (let i = 0; i < 4; i++) {
    const st = await chaos.client.stat(`/scale/policy/p${i}.bin`);
    for (const c of st.chunks) {
      const live = c.replicas.filter((x) => x.state === "stored");
      expect(live).toHaveLength(3);
      expect(c.live).toBe(3);
      expect(
        live.some((x) => x.site === "hq"),
        "a copy in the required site",
      ).toBe(true);
    }
  }

  await chaos.client.setPolicy({ path: "/scale/policy", replicas: 1, requiredSites: [], allowedSites: ["branch"] });
  await chaos.settle(120_000, "1 replica in branch");
  for (let i = 0; i < 4; i++) {
    const st = await chaos.client.stat(`/scale/policy/p${i}.bin`);
    for (const c of st.chunks) {
      expect(c.replicas).toHaveLength(1);
      expect(c.replicas[0]!.site).toBe("branch");
      expect(c.target).toBe(1);
    }
  }
  await readAll();
});
