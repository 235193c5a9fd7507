// A cross-site repair through the WAN emulator, driven by the real control plane and its
// reconciler: embedded PostgreSQL, the control plane and its worker run in the root namespace
// (a cluster in a box without storage nodes); hq-1 runs in the emulator's namespace A and
// branch-1/branch-2 in namespace B, as real storage-node processes. Each namespace reaches
// the control plane over its own management veth (mgmt.ts); node-to-node data crosses only
// the emulator (RTT 40 ms, 0.5 % loss, 100 Mbit/s): the nodes announce their UDT address on
// the emulator link, and namespace A has no route to namespace B's management address.
// A file is uploaded (one replica in hq, one in branch), the branch replica's node is
// killed with SIGKILL, and from there nothing is driven by the test: the control plane marks
// the node down after its heartbeat timeout, the reconciler plans the copy and tells the
// other branch node to fetch it from hq-1, which it does over UDT. The receiving node's UDT
// metrics and the relay's counters prove the path; the file reads back intact.
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isUdtAvailable } from "../../native/udt/lib/index.ts";
import { Chaos, KiB, rng, sha256 } from "../fixtures/chaos.ts";
import { TestCluster } from "../fixtures/cluster.ts";
import { startWan, wanAvailable, type Wan } from "./emulator.ts";
import { addMgmtLink, shareSource } from "./mgmt.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.join(here, "..", "..");
const NODE_MAIN = path.join(repoRoot, "apps", "storage-node", "src", "main.ts");
const RATE_MBIT = 100;
const SEED = Number(process.env.WAN_REPAIR_SEED ?? 7);
const avail = wanAvailable();
const udt = isUdtAvailable();
// The control plane is the real one: it serves the production build of apps/web.
const webBuilt = existsSync(path.join(repoRoot, "apps", "web", ".next", "BUILD_ID"));
if (!avail.ok) console.warn(`[wan repair] test skipped: ${avail.reason}`);
else if (!udt) console.warn("[wan repair] test skipped: the UDT addon is not built (npm run build -w @cumulus/udt)");
else if (!webBuilt) console.warn("[wan repair] test skipped: the web app is not built (cd apps/web && npx next build)");

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => console.warn(`cleanup: ${String(e)}`));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(url: string, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text());
  if (!m) throw new Error(`${url}: metric ${name} missing`);
  return Number(m[1]);
}

/** Polls `probe` until it returns a value; the deadline only bounds a hung run. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

describe.skipIf(!avail.ok || !udt || !webBuilt)("cross-site repair by the reconciler through the WAN emulator", () => {
  it(
    "after kill -9 of the branch replica's node, the reconciler copies hq → branch over UDT",
    { timeout: 300_000 },
    async () => {
      try {
        await body();
      } catch (err) {
        console.error(`[wan repair] failed with WAN_REPAIR_SEED=${SEED}`);
        throw err;
      }
    },
  );
});

async function body(): Promise<void> {
  const wan: Wan = await startWan({ delayMs: 20, loss: 0.005, bandwidthMbit: RATE_MBIT, seed: SEED });
  cleanups.push(() => wan.stop());
  const mgmtA = addMgmtLink(wan.nsA);
  const mgmtB = addMgmtLink(wan.nsB);
  // The test's client (root namespace) reaches the control plane and every node from one address.
  const clientAddr = mgmtA.rootAddr;
  shareSource(wan.nsB, mgmtB, clientAddr);

  // The box without storage nodes: an empty nodes.json is its node layout.
  const cluster = await TestCluster.create({
    CUMULUS_NODE_TIMEOUT_MS: "5000",
    CUMULUS_HEARTBEAT_INTERVAL_MS: "1000",
    CUMULUS_RECONCILE_INTERVAL_MS: "500",
    CUMULUS_LOG_LEVEL: "warn",
  });
  cleanups.push(() => cluster.destroy());
  await writeFile(path.join(cluster.dataDir, "nodes.json"), JSON.stringify({ nodes: [] }) + "\n");
  await cluster.start();
  const port = new URL(cluster.url).port;
  const joinToken = (await readFile(path.join(cluster.dataDir, "join-token"), "utf8")).trim();

  // Ports are per namespace, so fixed ones cannot collide with other runs.
  const nodes = new Map<string, { proc: ChildProcess; url: string; stderr: () => string }>();
  const startNode = (
    name: string,
    site: string,
    ns: string,
    mgmt: { rootAddr: string; nsAddr: string },
    wanAddr: string,
    httpPort: number,
  ) => {
    let err = "";
    const url = `http://${mgmt.nsAddr}:${httpPort}`;
    const proc = wan.spawn(ns, process.execPath, [NODE_MAIN], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CUMULUS_NODE_NAME: name,
        CUMULUS_NODE_SITE: site,
        CUMULUS_NODE_DATA_DIR: path.join(cluster.dataDir, "nodes", name),
        // HTTP on every address of the namespace: the control plane and the client come in
        // over the management link, same-site nodes over it too.
        CUMULUS_NODE_HOST: "0.0.0.0",
        CUMULUS_NODE_PORT: String(httpPort),
        CUMULUS_NODE_PUBLIC_URL: url,
        CUMULUS_NODE_UDT_PORT: String(httpPort + 1000),
        // Other sites dial UDT on the emulator link's address: the only path between sites.
        CUMULUS_NODE_UDT_PUBLIC_ADDRESS: `${wanAddr}:${httpPort + 1000}`,
        CUMULUS_NODE_UDT_RATE_MBIT: String(RATE_MBIT),
        CUMULUS_CONTROL_URL: `http://${mgmt.rootAddr}:${port}`,
        CUMULUS_JOIN_TOKEN: joinToken,
        CUMULUS_LOG_LEVEL: "warn",
      },
    });
    proc.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    nodes.set(name, { proc, url, stderr: () => err });
  };
  cleanups.push(async () => {
    for (const n of nodes.values()) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill("SIGKILL");
  });
  startNode("hq-1", "hq", wan.nsA, mgmtA, wan.addrA, 7101);
  startNode("branch-1", "branch", wan.nsB, mgmtB, wan.addrB, 7101);
  startNode("branch-2", "branch", wan.nsB, mgmtB, wan.addrB, 7102);

  const chaos = await Chaos.open(cluster, { server: `http://${clientAddr}:${port}` });
  cleanups.push(() => chaos.close());
  await until("3 active storage nodes", 90_000, async () => {
    for (const [name, n] of nodes) {
      if (n.proc.exitCode !== null) throw new Error(`${name} exited (${n.proc.exitCode}): ${n.stderr()}`);
    }
    const s = await chaos.sysinfo();
    return s.nodes.filter((n) => n.status === "active").length === 3 ? s : null;
  });

  // The namespaces reach each other only through the emulator: neither can dial the other's
  // management address (B's host route goes to the client's address in the root namespace only).
  for (const [from, to] of [
    [wan.nsA, mgmtB.nsAddr],
    [wan.nsB, mgmtA.nsAddr],
  ] as const) {
    const direct = await wan.exec(from, "bash", ["-c", `echo > /dev/tcp/${to}/7101`], { timeoutMs: 10_000 });
    expect(direct.code, `${from} must not reach ${to}:7101 but through the emulator`).not.toBe(0);
  }

  // 4 MiB in 1 MiB chunks, two replicas: placement puts one in each site.
  const r = rng(SEED);
  const data = r.bytes(4 * 1024 * KiB);
  await chaos.upload("/wan/repair.bin", data, { chunkSize: 1024 * KiB });
  await chaos.settle(120_000, "replication after the upload");
  const rows = (await chaos.replicaRows()).filter((x) => x.live);
  const chunkIds = [...new Set(rows.map((x) => x.chunkId))];
  expect(chunkIds.length).toBe(4);
  for (const id of chunkIds) {
    expect(rows.filter((x) => x.chunkId === id && x.node === "hq-1").length, `hq-1 holds ${id.slice(0, 12)}`).toBe(1);
  }
  // The upload's cross-site hop (hq-1 ↔ the branch replica's node) went over UDT too.
  let uploadUdtIn = 0;
  for (const n of nodes.values()) uploadUdtIn += await metric(n.url, "cumulus_node_udt_bytes_in_total");
  expect(uploadUdtIn).toBeGreaterThanOrEqual(data.length);

  // Kill the branch node that holds the most branch replicas; the other one must receive them.
  const count = (name: string) => rows.filter((x) => x.node === name).length;
  const victim = count("branch-1") >= count("branch-2") ? "branch-1" : "branch-2";
  const survivor = victim === "branch-1" ? "branch-2" : "branch-1";
  const toRepair = rows.filter((x) => x.node === victim).map((x) => x.chunkId);
  expect(toRepair.length).toBeGreaterThan(0);
  const repairBytes = toRepair.length * 1024 * KiB; // every chunk is exactly 1 MiB

  const survivorUrl = nodes.get(survivor)!.url;
  const before = {
    inUdt: await metric(survivorUrl, "cumulus_node_udt_bytes_in_total"),
    hqOut: await metric(nodes.get("hq-1")!.url, "cumulus_node_udt_bytes_out_total"),
    relay: await wan.stats(),
  };

  const victimProc = nodes.get(victim)!.proc;
  const gone = new Promise<NodeJS.Signals | null>((res) => victimProc.once("exit", (_c, sig) => res(sig)));
  victimProc.kill("SIGKILL");
  expect(await gone).toBe("SIGKILL");

  // From here on only the control plane and its reconciler act.
  await until(`${victim} marked down by the heartbeat timeout`, 60_000, async () => {
    const s = await chaos.sysinfo();
    return s.nodes.find((n) => n.name === victim)?.status === "down" ? s : null;
  });
  await chaos.settle(180_000, "the reconciler's repair");
  const after = (await chaos.replicaRows()).filter((x) => x.live);
  for (const id of chunkIds) {
    const holders = after.filter((x) => x.chunkId === id).map((x) => x.node);
    expect(holders.sort(), `live copies of ${id.slice(0, 12)}`).toEqual(["hq-1", survivor].sort());
  }

  // The repaired bytes came over UDT: into the survivor, out of hq-1, through the relay A→B.
  const inUdt = (await metric(survivorUrl, "cumulus_node_udt_bytes_in_total")) - before.inUdt;
  const hqOut = (await metric(nodes.get("hq-1")!.url, "cumulus_node_udt_bytes_out_total")) - before.hqOut;
  // At least the chunks' bytes (more only if a copy was retried after a broken transfer).
  expect(inUdt).toBeGreaterThanOrEqual(repairBytes);
  expect(hqOut).toBeGreaterThanOrEqual(repairBytes);
  const relay = await wan.stats();
  const abBytes = relay.ab.forwardedBytes - before.relay.ab.forwardedBytes;
  const lost = relay.ab.lossDrops + relay.ba.lossDrops - before.relay.ab.lossDrops - before.relay.ba.lossDrops;
  expect(abBytes).toBeGreaterThan(repairBytes);
  console.log(
    `[wan repair] ${victim} killed; the reconciler copied ${toRepair.length} chunk(s) hq-1 → ${survivor}: ` +
      `UDT in ${inUdt} B, hq-1 UDT out ${hqOut} B, relay A→B ${abBytes} B, packets lost on the link ${lost}`,
  );

  // And the file reads back intact (from hq-1 or the survivor, verified per chunk).
  expect(sha256(await chaos.read("/wan/repair.bin"))).toBe(sha256(data));
}
