// UDT across the emulated WAN: the rate-based congestion control (native/udt `rateMbit`) and
// its repeated loss reports must deliver every byte intact through random loss both ways.
import type { ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { isUdtAvailable } from "../../native/udt/lib/index.ts";
import { startWan, wanAvailable, type Wan } from "./emulator.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.join(here, "udt-peer.ts");
const avail = wanAvailable();
const udt = isUdtAvailable();
if (!avail.ok) console.warn(`[wan udt] tests skipped: ${avail.reason}`);
else if (!udt) console.warn("[wan udt] tests skipped: the UDT addon is not built (npm run build -w @cumulus/udt)");

const running: Wan[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

/** Resolves with the JSON lines a child printed once it exits 0. */
function lines(p: ChildProcess): { next(): Promise<Record<string, unknown>>; done: Promise<void> } {
  const queue: Array<Record<string, unknown>> = [];
  const waiters: Array<(v: Record<string, unknown>) => void> = [];
  let buf = "";
  let err = "";
  p.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf("\n"); i !== -1; i = buf.indexOf("\n")) {
      const v = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(v);
      else queue.push(v);
    }
  });
  p.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((resolve, reject) =>
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`udt-peer exited ${code}: ${err}`)))),
  );
  return {
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
    done,
  };
}

describe.skipIf(!avail.ok || !udt)("UDT across the WAN emulator", () => {
  it(
    "rate-based congestion control delivers 48 MiB intact through 2 % loss each way",
    { timeout: 120_000 },
    async () => {
      const wan = await startWan({ delayMs: 20, loss: 0.02, bandwidthMbit: 100, seed: 5 });
      running.push(wan);
      const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
      const server = lines(wan.spawn(wan.nsB, process.execPath, [PEER, "serve", wan.addrB, "95"], { stdio }));
      const { port } = (await server.next()) as { port: number };
      const sender = lines(
        wan.spawn(wan.nsA, process.execPath, [PEER, "send", wan.addrB, String(port), "48", "7", "95"], { stdio }),
      );
      const sent = (await sender.next()) as { sha256: string; retrans: number };
      const received = (await server.next()) as { bytes: number; sha256: string };
      await Promise.all([sender.done, server.done]);
      expect(received.bytes).toBe(48 * 1024 * 1024);
      expect(received.sha256).toBe(sent.sha256);
      // the link did lose packets, and UDT resent them
      const stats = await wan.stats();
      expect(stats.ab.lossDrops).toBeGreaterThan(0);
      expect(sent.retrans).toBeGreaterThan(0);
    },
  );
});
