/**
 * Measurements through a running WAN emulator (see emulator.ts): RTT and loss (ICMP ping
 * or a UDP echo), TCP throughput (Node sender in one namespace, receiver in the other),
 * and raw link capacity (a paced UDP blast above the cap; the received rate is the cap).
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { udpToolBinary, type Wan } from "./emulator.ts";

const endpoint = path.join(path.dirname(fileURLToPath(import.meta.url)), "endpoint.ts");
const node = process.execPath;

type Dir = "ab" | "ba";
function ends(wan: Wan, dir: Dir): { srcNs: string; dstNs: string; dstAddr: string } {
  return dir === "ab"
    ? { srcNs: wan.nsA, dstNs: wan.nsB, dstAddr: wan.addrB }
    : { srcNs: wan.nsB, dstNs: wan.nsA, dstAddr: wan.addrA };
}

/** Starts an endpoint in a namespace; resolves `ready` on its READY line and `result` on its JSON line. */
function runEndpoint<T>(
  wan: Wan,
  ns: string,
  args: string[],
): { child: ChildProcess; ready: Promise<void>; result: Promise<T> } {
  return runIn<T>(wan, ns, node, [endpoint, ...args]);
}

function runTool<T>(
  wan: Wan,
  ns: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; ready: Promise<void>; result: Promise<T> } {
  return runIn<T>(wan, ns, udpToolBinary, args, env);
}

function runIn<T>(
  wan: Wan,
  ns: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; ready: Promise<void>; result: Promise<T> } {
  const child = wan.spawn(ns, cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  const result = new Promise<T>((resolve, reject) => {
    let got = false;
    lines.on("line", (line) => {
      if (line === "READY") onReady();
      else if (line.startsWith("{")) {
        got = true;
        resolve(JSON.parse(line) as T);
      }
    });
    child.once("exit", (code, sig) => {
      if (!got)
        reject(
          new Error(`${path.basename(cmd)} ${args[0]} exited (${code ?? sig}) without a result: ${stderr.trim()}`),
        );
    });
  });
  result.catch(() => {});
  const readyOrFail = Promise.race([ready, result.then(() => {})]);
  return { child, ready: readyOrFail, result };
}

let nextPort = 5201;
const port = (): number => {
  nextPort = nextPort >= 5900 ? 5201 : nextPort + 1;
  return nextPort;
};

// ---- RTT / loss -------------------------------------------------------------------------

export type PingResult = {
  method: "icmp" | "udp";
  sent: number;
  received: number;
  lossRate: number;
  rttMinMs: number;
  rttAvgMs: number;
  /** Median round trip: robust against the odd probe delayed by CPU load on the machine. */
  rttMedianMs: number;
  rttMaxMs: number;
  rttsMs: number[];
};

function rttSummary(rtts: number[]): Pick<PingResult, "rttMinMs" | "rttAvgMs" | "rttMedianMs" | "rttMaxMs" | "rttsMs"> {
  const sorted = [...rtts].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    rttMinMs: n ? sorted[0]! : NaN,
    rttAvgMs: n ? sorted.reduce((a, b) => a + b, 0) / n : NaN,
    rttMedianMs: n ? (n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2) : NaN,
    rttMaxMs: n ? sorted[n - 1]! : NaN,
    rttsMs: rtts,
  };
}

let hasPing: boolean | null = null;
/** Whether iputils `ping` is installed. */
export function hasIcmpPing(): boolean {
  hasPing ??= !spawnSync("ping", ["-V"], { stdio: "ignore" }).error;
  return hasPing;
}

/**
 * Round trips from A to B. Uses iputils `ping` when installed (`method: "icmp"`),
 * otherwise a UDP echo in Node (`method: "udp"`: adds the endpoints' event-loop and
 * scheduling time, well under 1 ms on an idle machine, more under CPU load; ICMP echo
 * replies come from the kernel and ping timestamps in the kernel, so it is the tighter one).
 */
export async function ping(
  wan: Wan,
  o: { count?: number; intervalMs?: number; timeoutMs?: number; method?: "icmp" | "udp" } = {},
): Promise<PingResult> {
  const count = o.count ?? 20;
  const intervalMs = o.intervalMs ?? 20;
  const timeoutMs = o.timeoutMs ?? Math.max(1000, 4 * (wan.options.ab.delayMs + wan.options.ba.delayMs));
  const method = o.method ?? (hasIcmpPing() ? "icmp" : "udp");
  if (method === "icmp") {
    const r = await wan.exec(
      wan.nsA,
      "ping",
      ["-n", "-c", String(count), "-i", String(intervalMs / 1000), "-W", String(timeoutMs / 1000), wan.addrB],
      { timeoutMs: count * intervalMs + timeoutMs + 10_000 },
    );
    const tx = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    if (!tx) throw new Error(`unexpected ping output: ${r.stdout} ${r.stderr}`);
    const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
    const sent = Number(tx[1]);
    const received = Number(tx[2]);
    return { method, sent, received, lossRate: (sent - received) / sent, ...rttSummary(rtts) };
  }
  const p = port();
  const lifetime = (count * intervalMs + timeoutMs) / 1000 + 5;
  const echo = runEndpoint<unknown>(wan, wan.nsB, [
    "udp-echo",
    "--host",
    wan.addrB,
    "--port",
    String(p),
    "--seconds",
    String(lifetime),
  ]);
  await echo.ready;
  const client = runEndpoint<{ sent: number; received: number; rttsMs: number[] }>(wan, wan.nsA, [
    "udp-ping",
    "--host",
    wan.addrB,
    "--port",
    String(p),
    "--count",
    String(count),
    "--interval-ms",
    String(intervalMs),
    "--timeout-ms",
    String(timeoutMs),
  ]);
  const r = await client.result;
  echo.child.kill("SIGKILL");
  return {
    method,
    sent: r.sent,
    received: r.received,
    lossRate: (r.sent - r.received) / r.sent,
    ...rttSummary(r.rttsMs),
  };
}

// ---- TCP throughput ---------------------------------------------------------------------

export type TcpResult = {
  /** Goodput over the whole window, from the receiver's accept to the deadline. */
  mbit: number;
  /** Goodput after `warmupSeconds` (excludes most of slow start). */
  steadyMbit: number;
  bytes: number;
  seconds: number;
  /** A fixed-size transfer that finished (always false for a timed run). */
  complete: boolean;
  /** [ms since accept, bytes received so far] every 100 ms. */
  samples: [number, number][];
};

/**
 * One TCP connection, Node sender in the source namespace, Node receiver in the other.
 * Data flows A->B by default. Either for `seconds` (measured at the receiver from accept),
 * or, with `bytes`, a fixed-size transfer timed from accept to the sender's FIN (then
 * `seconds`, default 120, is only a limit; `complete` says whether it finished).
 */
export async function tcpThroughput(
  wan: Wan,
  o: { seconds?: number; bytes?: number; warmupSeconds?: number; direction?: Dir } = {},
): Promise<TcpResult> {
  const seconds = o.seconds ?? (o.bytes === undefined ? 5 : 120);
  const { srcNs, dstNs, dstAddr } = ends(wan, o.direction ?? "ab");
  const p = String(port());
  const recv = runEndpoint<{
    bytes: number;
    complete: boolean;
    elapsedMs: number;
    samples: [number, number][];
    error?: string;
  }>(wan, dstNs, ["tcp-recv", "--host", dstAddr, "--port", p, "--seconds", String(seconds)]);
  await recv.ready;
  const sendArgs = ["tcp-send", "--host", dstAddr, "--port", p, "--seconds", String(seconds)];
  if (o.bytes !== undefined) sendArgs.push("--bytes", String(Math.trunc(o.bytes)));
  const send = runEndpoint<unknown>(wan, srcNs, sendArgs);
  const r = await recv.result;
  await send.result.catch(() => {});
  if (r.error) throw new Error(`tcp-recv: ${r.error}`);
  const el = r.elapsedMs / 1000;
  const warm = Math.min(o.warmupSeconds ?? 1, el / 2);
  const at = (ms: number): number => {
    let b = 0;
    for (const [t, bytes] of r.samples) if (t <= ms) b = bytes;
    return b;
  };
  const warmBytes = at(warm * 1000);
  return {
    mbit: (r.bytes * 8) / el / 1e6,
    steadyMbit: ((r.bytes - warmBytes) * 8) / (el - warm) / 1e6,
    bytes: r.bytes,
    seconds: el,
    complete: r.complete,
    samples: r.samples,
  };
}

// ---- raw link capacity ------------------------------------------------------------------

export type UdpResult = {
  /** Received rate in IP-level Mbit/s, first to last datagram: with an offered load above the cap, the link's capacity. */
  mbit: number;
  /** Received rate over the second half of the receive span (after the queue has filled). */
  steadyMbit: number;
  offeredMbit: number;
  sentPackets: number;
  receivedPackets: number;
  /** 1 - received/sent: random loss plus queue drops (the excess over the cap). */
  lossRate: number;
};

/**
 * A paced UDP blast (relay/wan-udp.c, sendmmsg) of `rateMbit` IP-level Mbit/s (default
 * 1.2x the cap) for `seconds`. The receiver's rate from first to last datagram is the
 * link's raw capacity: loss, RTT and congestion control play no part.
 */
export async function udpCapacity(
  wan: Wan,
  o: { rateMbit?: number; seconds?: number; size?: number; direction?: Dir } = {},
): Promise<UdpResult> {
  const dir = o.direction ?? "ab";
  const cap = wan.options[dir].bandwidthMbit;
  const rate = o.rateMbit ?? (cap > 0 ? cap * 1.2 : 2000);
  const seconds = o.seconds ?? 2;
  const size = o.size ?? 1472;
  const { srcNs, dstNs, dstAddr } = ends(wan, dir);
  const p = String(port());
  const oneWay = wan.options[dir].delayMs;
  const recv = runTool<{
    packets: number;
    bytes: number;
    firstMs: number;
    lastMs: number;
    firstBytes: number;
    steadyMbit: number;
  }>(wan, dstNs, ["recv", dstAddr, p, String(seconds + 10 + oneWay / 1000), String(Math.max(500, 3 * oneWay + 300))], {
    WAN_UDP_RT: "1",
  });
  await recv.ready;
  const send = runTool<{ sentPackets: number }>(
    wan,
    srcNs,
    ["send", dstAddr, p, String(rate), String(seconds), String(size)],
    {
      WAN_UDP_RT: "1",
    },
  );
  const [s, r] = await Promise.all([send.result, recv.result]);
  const span = (r.lastMs - r.firstMs) / 1000;
  return {
    // counted in IP bytes (payload + 28 bytes of IP/UDP headers), like the relay's cap
    mbit: span > 0 ? ((r.bytes - r.firstBytes + 28 * (r.packets - 1)) * 8) / span / 1e6 : 0,
    steadyMbit: r.steadyMbit,
    offeredMbit: rate,
    sentPackets: s.sentPackets,
    receivedPackets: r.packets,
    lossRate: s.sentPackets ? 1 - r.packets / s.sentPackets : 0,
  };
}
