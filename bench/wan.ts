// `npm run bench -- wan`: chunk transfer to a storage node over HTTP/TCP and over UDT, across
// the WAN emulator (e2e/wan) and on plain loopback. See `method`.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWan, wanAvailable, type Wan } from "../e2e/wan/emulator.ts";
import { udpCapacity } from "../e2e/wan/measure.ts";
import { humanSize, sleep, type BenchOptions, type BenchResult } from "./lib/harness.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const NODE_SCRIPT = path.join(here, "lib", "wan-node.ts");
const SENDER_SCRIPT = path.join(here, "lib", "wan-sender.ts");
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CHUNK = 4 * MiB;
const DISTINCT = 16;
// Chunks in flight, per transport. A UDT chunk costs at least an RTT plus any loss recovery
// on top of its time on the wire (4 MiB at 400 Mbit/s is 84 ms, an RTT here is 100-200 ms,
// a resend after UDT's expiry timer 300 ms and more), so a few in flight leave the link idle
// most of the time: at RTT 200 ms / 1 % loss 4 gave 121 Mbit/s, 16 about 300. A full run
// with 32 gave no more (285 Mbit/s; UDT's native controller did worse), so 16 it is.
const PARALLEL = 16;
// The emulated link's rate, configured as a known private link's would be
// (CUMULUS_NODE_UDT_RATE_MBIT): UDT then uses its rate-based congestion control.
const LINK_MBIT = 400;

export const summary = "WAN acceleration: UDT vs HTTP/TCP chunk transfer across the WAN emulator and on loopback";

export const method = `Random 4 MiB chunks (16 distinct ones, sent round-robin) are PUT from a client to one
real storage node (fake control plane, one replica), ${PARALLEL} at a time, over HTTP/TCP
(the SDK's \`putChunk\`, cubic in the emulator's namespaces) and over UDT (the SDK's UDT
transport: pooled connections, the node's UDT listener). Across the emulator (e2e/wan: the
client in namespace A, the node in B; RTT 100 ms / 0.1 % loss and RTT 200 ms / 1 % loss,
both capped at ${LINK_MBIT} Mbit/s) the raw capacity is measured in the same emulator run
(UDP blast above the cap), and UDT runs twice: with the link rate configured on both ends
(\`CUMULUS_NODE_UDT_RATE_MBIT=${LINK_MBIT}\`: rate-based congestion control, the target
figure) and with UDT's native congestion control (no rate configured). A transfer stops at \`--size\` (default 1 GiB, \`--quick\` 128 MiB) or after a
time limit (TCP under loss moves a few Mbit/s; its rate is what was moved in that time).
On loopback (no emulator) the same transfers compare UDT with TCP. Targets: UDT ≥ 0.7 × link
capacity in both WAN settings, UDT ≥ 5 × TCP at 200 ms / 1 %, UDT ≥ 0.5 × TCP on loopback.`;

export function timeoutMs(o: Pick<BenchOptions, "size" | "quick">): number {
  return o.quick ? 10 * 60_000 : 30 * 60_000;
}

interface Transfer {
  bytes: number;
  ms: number;
  mbit: number;
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null ? r() : p.once("exit", () => r())));
}

async function waitFile(file: string, proc: ChildProcess, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    try {
      await readFile(file);
      return;
    } catch {
      if (proc.exitCode !== null) throw new Error(`storage node process exited (${proc.exitCode}) before it was ready`);
      await sleep(200);
    }
  }
}

function collect(p: ChildProcess): Promise<string> {
  let out = "";
  let err = "";
  p.stdout?.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr?.on("data", (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) =>
    p.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`sender failed (${code}): ${err.slice(-2000)}`)),
    ),
  );
}

async function send(
  start: (args: string[], env?: NodeJS.ProcessEnv) => ChildProcess,
  transport: "http" | "udt",
  dir: string,
  bytes: number,
  maxSeconds: number,
  rateMbit?: number,
): Promise<Transfer> {
  const p = start(
    [SENDER_SCRIPT, transport, dir, String(bytes), String(maxSeconds), String(PARALLEL)],
    rateMbit ? { ...process.env, WAN_UDT_RATE_MBIT: String(rateMbit) } : process.env,
  );
  const out = await collect(p);
  const r = JSON.parse(out.trim().split("\n").pop()!) as { bytes: number; ms: number };
  return { ...r, mbit: (r.bytes * 8) / (r.ms / 1000) / 1e6 };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const size = opts.size ?? (opts.quick ? 128 * MiB : GiB);
  const maxSeconds = opts.quick ? 30 : 90;
  const dir = opts.workDir;
  const ids: string[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const data = randomBytes(CHUNK);
    const id = createHash("sha256").update(data).digest("hex");
    await writeFile(path.join(dir, `${id}.bin`), data);
    ids.push(id);
  }
  await writeFile(path.join(dir, "ids.json"), JSON.stringify(ids));

  const rows: string[][] = [];
  const ratios: string[][] = [];
  const notes: string[] = [];
  const history: Record<string, string> = {};
  const f = (x: number) => x.toFixed(1);

  // --- across the emulator
  const avail = wanAvailable();
  const scenarios = [
    { rttMs: 100, loss: 0.001 },
    { rttMs: 200, loss: 0.01 },
  ];
  if (!avail.ok) notes.push(`WAN emulator unavailable: ${avail.reason}; only loopback was measured.`);
  else {
    for (const s of scenarios) {
      opts.log(`emulator RTT ${s.rttMs} ms, loss ${s.loss * 100} %, 400 Mbit/s`);
      const wan: Wan = await startWan({ delayMs: s.rttMs / 2, loss: s.loss, bandwidthMbit: 400, seed: 1 });
      try {
        const cap = await udpCapacity(wan, { seconds: 5 });
        const inA = (args: string[], env?: NodeJS.ProcessEnv) =>
          wan.spawn(wan.nsA, process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
        // The node's UDT listener takes its congestion control from its own configuration,
        // so each UDT variant gets a node started with (or without) the link rate.
        const withNode = async <T>(rateMbit: number | undefined, fn: () => Promise<T>): Promise<T> => {
          await rm(path.join(dir, "node.json"), { force: true });
          const nodeProc = wan.spawn(wan.nsB, process.execPath, [NODE_SCRIPT, wan.addrB, dir], {
            stdio: ["ignore", "ignore", "inherit"],
            env: rateMbit ? { ...process.env, WAN_UDT_RATE_MBIT: String(rateMbit) } : process.env,
          });
          try {
            await waitFile(path.join(dir, "node.json"), nodeProc, opts.signal);
            return await fn();
          } finally {
            nodeProc.kill("SIGTERM");
            await waitExit(nodeProc);
          }
        };
        opts.log("  HTTP/TCP");
        const tcp = await withNode(undefined, () => send(inA, "http", dir, size, maxSeconds));
        opts.log(`  UDT, rate-based congestion control at ${LINK_MBIT} Mbit/s`);
        const udt = await withNode(LINK_MBIT, () => send(inA, "udt", dir, size, maxSeconds * 4, LINK_MBIT));
        opts.log("  UDT, native congestion control");
        const native = await withNode(undefined, () => send(inA, "udt", dir, size, maxSeconds * 2));
        const label = `RTT ${s.rttMs} ms, loss ${s.loss * 100} %`;
        rows.push([
          label,
          f(cap.mbit),
          `${f(tcp.mbit)} (${humanSize(tcp.bytes)})`,
          `${f(udt.mbit)} (${humanSize(udt.bytes)})`,
          `${f(native.mbit)} (${humanSize(native.bytes)})`,
        ]);
        const vsCap = udt.mbit / cap.mbit;
        const vsTcp = udt.mbit / tcp.mbit;
        ratios.push([label, "UDT / link capacity", vsCap.toFixed(2), "≥ 0.7", vsCap >= 0.7 ? "met" : "MISSED"]);
        if (s.rttMs === 200) ratios.push([label, "UDT / TCP", vsTcp.toFixed(1), "≥ 5", vsTcp >= 5 ? "met" : "MISSED"]);
        history[`udt ${s.rttMs}ms Mbit/s`] = f(udt.mbit);
        history[`tcp ${s.rttMs}ms Mbit/s`] = f(tcp.mbit);
        history[`udt native ${s.rttMs}ms Mbit/s`] = f(native.mbit);
      } finally {
        await wan.stop();
      }
    }
  }

  // --- loopback
  opts.log("loopback");
  await rm(path.join(dir, "node.json"), { force: true });
  const local = spawn(process.execPath, [NODE_SCRIPT, "127.0.0.1", dir], { stdio: ["ignore", "ignore", "inherit"] });
  try {
    await waitFile(path.join(dir, "node.json"), local, opts.signal);
    const onHost = (args: string[], env?: NodeJS.ProcessEnv) =>
      spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const tcp = await send(onHost, "http", dir, size, maxSeconds);
    const udt = await send(onHost, "udt", dir, size, maxSeconds);
    rows.push([
      "loopback",
      "-",
      `${f(tcp.mbit)} (${humanSize(tcp.bytes)})`,
      "-",
      `${f(udt.mbit)} (${humanSize(udt.bytes)})`,
    ]);
    const r = udt.mbit / tcp.mbit;
    ratios.push(["loopback", "UDT / TCP", r.toFixed(2), "≥ 0.5", r >= 0.5 ? "met" : "MISSED"]);
    history["udt loopback Mbit/s"] = f(udt.mbit);
    history["tcp loopback Mbit/s"] = f(tcp.mbit);
  } finally {
    local.kill("SIGTERM");
    await waitExit(local);
  }

  notes.push(
    `Rates are chunk payload Mbit/s (10^6 bit/s) from the first PUT to the last answer; ${PARALLEL} chunks in flight; link capacity is IP-level.`,
    `A transfer stops at ${humanSize(size)} or ${maxSeconds} s (UDT over the emulator: ${maxSeconds * 4} s rate-based, ${maxSeconds * 2} s native), whichever comes first.`,
    `Loopback has no known link rate, so UDT runs its native congestion control there.`,
    "2 vCPUs shared by the relay, both endpoints and other jobs: rates are lower bounds of what the code can do.",
  );
  return {
    headline: `${humanSize(size)} of 4 MiB chunks to one storage node, HTTP/TCP vs UDT`,
    tables: [
      {
        title: "Throughput (Mbit/s)",
        table: { headers: ["link", "raw capacity", "HTTP/TCP", "UDT (rate-based)", "UDT (native CC)"], rows },
      },
      {
        title: "Ratios vs targets (same run)",
        table: { headers: ["link", "ratio", "value", "target", ""], rows: ratios },
      },
    ],
    notes,
    history,
  };
}
