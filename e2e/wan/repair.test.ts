// A cross-site repair through the WAN emulator: hq-1 (with a fake control plane) in namespace
// A, branch-1 and branch-2 as real storage node processes in namespace B, 40 ms RTT and 0.5 %
// loss between them, UDT with the link rate configured. A chunk's branch replica lands on
// branch-1 (hq-1 forwards it over UDT), branch-1 is killed with SIGKILL, and branch-2 copies
// the chunk from hq-1 with the reconciler's own client call (replicateOnNode, POST
// /replicate). branch-2's UDT transfer metrics prove the bytes came over UDT.
// Not covered here: the reconciler's planner deciding on that copy (it needs the real control
// plane and database, which do not run inside the emulator's namespaces); the test issues
// the copy the planner would, with the same tokens.
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isUdtAvailable } from "../../native/udt/lib/index.ts";
import { startWan, wanAvailable, type Wan } from "./emulator.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const DRIVER = path.join(here, "repair-driver.ts");
const NODE_MAIN = path.join(here, "..", "..", "apps", "storage-node", "src", "main.ts");
const RATE_MBIT = 100;
const avail = wanAvailable();
const udt = isUdtAvailable();
if (!avail.ok) console.warn(`[wan repair] test skipped: ${avail.reason}`);
else if (!udt) console.warn("[wan repair] test skipped: the UDT addon is not built (npm run build -w @cumulus/udt)");

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function jsonLines(p: ChildProcess, what: string): () => Promise<Record<string, unknown>> {
  const queue: Array<Record<string, unknown>> = [];
  const waiters: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = [];
  let buf = "";
  let err = "";
  p.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf("\n"); i !== -1; i = buf.indexOf("\n")) {
      const v = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w.resolve(v);
      else queue.push(v);
    }
  });
  p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  p.once("exit", (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`${what} exited (${code}) early: ${err.slice(-3000)}`));
  });
  return () =>
    queue.length
      ? Promise.resolve(queue.shift()!)
      : new Promise((resolve, reject) => waiters.push({ resolve, reject }));
}

describe.skipIf(!avail.ok || !udt)("cross-site repair through the WAN emulator", () => {
  it(
    "after kill -9 of the branch replica's node, branch-2 copies the chunk from hq over UDT",
    { timeout: 180_000 },
    async () => {
      const wan: Wan = await startWan({ delayMs: 20, loss: 0.005, bandwidthMbit: RATE_MBIT, seed: 9 });
      cleanups.push(() => wan.stop().then(() => undefined));
      const dataRoot = await mkdtemp(path.join(os.tmpdir(), "cumulus-wan-repair-"));
      cleanups.push(() => rm(dataRoot, { recursive: true, force: true }));

      const driver = wan.spawn(wan.nsA, process.execPath, [DRIVER, wan.addrA, String(RATE_MBIT)], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      const next = jsonLines(driver, "repair driver");
      const hello = (await next()) as { controlUrl: string; joinToken: string };
      expect(hello.controlUrl).toContain(wan.addrA);

      const branch = (name: string) =>
        wan.spawn(wan.nsB, process.execPath, [NODE_MAIN], {
          stdio: ["ignore", "ignore", "pipe"],
          env: {
            ...process.env,
            CUMULUS_NODE_NAME: name,
            CUMULUS_NODE_SITE: "branch",
            CUMULUS_NODE_DATA_DIR: path.join(dataRoot, name),
            CUMULUS_NODE_HOST: wan.addrB,
            CUMULUS_NODE_PORT: "0",
            CUMULUS_CONTROL_URL: hello.controlUrl,
            CUMULUS_JOIN_TOKEN: hello.joinToken,
            CUMULUS_NODE_UDT_RATE_MBIT: String(RATE_MBIT),
            CUMULUS_LOG_LEVEL: "warn",
          },
        });
      const b1 = branch("branch-1");
      const b2 = branch("branch-2");
      cleanups.push(async () => {
        for (const p of [b2, b1, driver]) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
      });

      const registered = (await next()) as { registered: string[] };
      expect(registered.registered).toEqual(["branch-1", "branch-2"]);
      const stored = (await next()) as { stored: number; body: string; receipts: number; b1UdtIn: number };
      if (stored.stored !== 201) throw new Error(`hq-1 answered the PUT with ${stored.stored}: ${stored.body}`);
      expect(stored.receipts).toBe(2); // hq-1 and branch-1
      expect(stored.b1UdtIn).toBe(3 * 1024 * 1024 + 17); // the forward crossed the WAN over UDT

      const gone = new Promise<NodeJS.Signals | null>((r) => b1.once("exit", (_code, signal) => r(signal)));
      b1.kill("SIGKILL");
      expect(await gone).toBe("SIGKILL");
      driver.stdin!.write(JSON.stringify({ killed: "branch-1" }) + "\n");

      const r = (await next()) as {
        repaired: { ok: boolean; sourceNodeId?: string | null; error?: string };
        hq1: string;
        size: number;
        b2UdtIn: number;
        hqUdtOut: number;
        readBack: number;
        intact: boolean;
      };
      expect(r.repaired.error).toBeUndefined();
      expect(r.repaired).toEqual({ ok: true, sourceNodeId: r.hq1 });
      expect(r.b2UdtIn).toBe(r.size);
      expect(r.hqUdtOut).toBe(r.size);
      expect(r.readBack).toBe(200);
      expect(r.intact).toBe(true);
      // the copy went through the emulated link, which dropped packets on the way
      const s = await wan.stats();
      expect(s.ab.forwardedBytes).toBeGreaterThan(2 * r.size);
      expect(s.ab.lossDrops + s.ba.lossDrops).toBeGreaterThan(0);
    },
  );
});
