/**
 * Management links: one veth pair per emulator namespace to the root namespace, so processes
 * there (control plane, PostgreSQL, the reconciler worker) can reach processes in the
 * namespace and back, while node-to-node traffic between the two namespaces still crosses
 * only the emulator. Each pair has its own /30; there is no route between the two /30s and
 * the root namespace does not forward (net.ipv4.ip_forward stays as it is: 0 here, and the
 * namespaces get no default route either way).
 *
 * Capability tokens are bound to the client's IP as the control plane saw it, and a real
 * client reaches the control plane and every node from one address. shareSource() gives
 * the root namespace that: connections to a namespace leave from one address (the first
 * link's root end), and the namespace gets a host route back to it.
 *
 * The pair dies with its namespace (deleting one end of a veth deletes the other), so
 * wan.stop() and cleanupStale() clean it up with nothing to add.
 */
import { spawnSync } from "node:child_process";

export type MgmtLink = {
  /** Address of the root-namespace end: what processes in the namespace dial. */
  rootAddr: string;
  /** Address of the namespace end: what the root namespace dials. */
  nsAddr: string;
  /** Name of the root-namespace end. */
  rootDev: string;
};

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${(r.stderr || r.error?.message || "").trim()}`);
}

// 10.202.0.0/16 cut into /30 blocks (16384). Several engineers' runs share the root
// namespace, so a block is picked from the pid and skipped while any address of it is in use.
const BLOCKS = 16384;
let serial = 0;

function usedBlocks(): Set<number> {
  const r = spawnSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" });
  const used = new Set<number>();
  for (const m of (r.stdout ?? "").matchAll(/inet 10\.202\.(\d+)\.(\d+)\//g)) {
    used.add(Number(m[1]) * 64 + Math.floor(Number(m[2]) / 4));
  }
  return used;
}

/** Adds a veth pair between the root namespace and `ns`, with a /30 of 10.202.0.0/16. */
export function addMgmtLink(ns: string): MgmtLink {
  const n = ++serial;
  const used = usedBlocks();
  let block = (process.pid * 7 + n * 131) % BLOCKS;
  for (let i = 0; used.has(block); i++) {
    if (i >= BLOCKS) throw new Error("no free /30 in 10.202.0.0/16 for a management link");
    block = (block + 1) % BLOCKS;
  }
  const base = `10.202.${Math.floor(block / 64)}.`;
  const low = (block % 64) * 4;
  const rootAddr = `${base}${low + 1}`;
  const nsAddr = `${base}${low + 2}`;
  const rootDev = `cm${process.pid}m${n}`.slice(0, 15);
  const nsDev = "mgmt0";
  ip(["link", "add", rootDev, "type", "veth", "peer", "name", nsDev, "netns", ns]);
  try {
    ip(["addr", "add", `${rootAddr}/30`, "dev", rootDev]);
    ip(["link", "set", rootDev, "up"]);
    ip(["-n", ns, "addr", "add", `${nsAddr}/30`, "dev", nsDev]);
    ip(["-n", ns, "link", "set", nsDev, "up"]);
  } catch (e) {
    spawnSync("ip", ["link", "del", rootDev], { stdio: "ignore" });
    throw e;
  }
  return { rootAddr, nsAddr, rootDev };
}

/**
 * Makes the root namespace dial `link`'s namespace from `src` (an address of the root
 * namespace, typically another link's rootAddr), and gives the namespace a host route back
 * to `src` over its management veth. Nothing else becomes reachable: the root namespace does
 * not forward.
 */
export function shareSource(ns: string, link: MgmtLink, src: string): void {
  if (src === link.rootAddr) return;
  ip(["route", "replace", `${link.nsAddr}/32`, "dev", link.rootDev, "src", src]);
  ip(["-n", ns, "route", "add", `${src}/32`, "dev", "mgmt0"]);
}
