/**
 * Measures the emulator at a set of link settings and prints a table: ping RTT, raw
 * capacity (UDP blast above the cap) and single-connection TCP goodput, each row in one
 * emulator run.
 *
 *   node e2e/wan/bench.ts [--seconds 10] [--cc cubic,bbr] [--scenario "rtt=100,loss=0.001,bw=400" ...]
 *
 * Without --scenario it runs the default matrix below.
 */
import { parseArgs } from "node:util";
import { startWan, wanAvailable } from "./emulator.ts";
import { ping, tcpThroughput, udpCapacity } from "./measure.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    cc: { type: "string", default: "cubic" },
    scenario: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
  },
});

type Scenario = { rttMs: number; loss: number; bw: number };
const defaults: Scenario[] = [
  { rttMs: 0, loss: 0, bw: 0 },
  { rttMs: 2, loss: 0, bw: 400 },
  { rttMs: 20, loss: 0, bw: 400 },
  { rttMs: 100, loss: 0, bw: 400 },
  { rttMs: 100, loss: 0.001, bw: 400 },
  { rttMs: 100, loss: 0.01, bw: 400 },
  { rttMs: 200, loss: 0.001, bw: 400 },
  { rttMs: 200, loss: 0.01, bw: 400 },
];

function parseScenario(s: string): Scenario {
  const kv = Object.fromEntries(s.split(",").map((p) => p.split("=") as [string, string]));
  return { rttMs: Number(kv.rtt ?? 0), loss: Number(kv.loss ?? 0), bw: Number(kv.bw ?? 0) };
}

const avail = wanAvailable();
if (!avail.ok) {
  console.log(`skipped: ${avail.reason}`);
  process.exit(0);
}

const scenarios = values.scenario?.map(parseScenario) ?? defaults;
const ccs = values.cc.split(",");
const seconds = Number(values.seconds);
const rows: Record<string, unknown>[] = [];
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : "-");

console.log(
  [
    "RTT ms",
    "loss %",
    "cap Mbit/s",
    "ping avg ms",
    "raw UDP Mbit/s",
    ...ccs.map((c) => `TCP ${c} Mbit/s (steady)`),
    "relay late avg/max us",
  ].join(" | "),
);
for (const sc of scenarios) {
  const wan = await startWan({ delayMs: sc.rttMs / 2, loss: sc.loss, bandwidthMbit: sc.bw, seed: 42 });
  try {
    const p = await ping(wan, { count: 20, intervalMs: 10 });
    const u = await udpCapacity(wan, { seconds: 2, rateMbit: sc.bw > 0 ? sc.bw * 1.2 : 3000 });
    const tcp: Record<string, { mbit: number; steadyMbit: number }> = {};
    for (const cc of ccs) {
      // congestion control is per namespace: set it on this emulator's namespaces
      for (const ns of [wan.nsA, wan.nsB])
        await wan.exec(ns, "sh", ["-c", `echo ${cc} > /proc/sys/net/ipv4/tcp_congestion_control`]);
      const t = await tcpThroughput(wan, { seconds, warmupSeconds: Math.min(seconds / 2, 3) });
      tcp[cc] = { mbit: t.mbit, steadyMbit: t.steadyMbit };
    }
    const s = await wan.stats();
    rows.push({
      ...sc,
      pingAvgMs: p.rttAvgMs,
      pingLoss: p.lossRate,
      udpMbit: u.mbit,
      udpSteadyMbit: u.steadyMbit,
      tcp,
      relay: s.ab,
    });
    console.log(
      [
        f(sc.rttMs, 0),
        f(sc.loss * 100, 2),
        sc.bw || "none",
        f(p.rttAvgMs, 2),
        f(u.mbit),
        ...ccs.map((c) => `${f(tcp[c]!.mbit)} (${f(tcp[c]!.steadyMbit)})`),
        `${f(s.ab.lateAvgUs, 0)}/${f(s.ab.lateMaxUs, 0)}`,
      ].join(" | "),
    );
  } finally {
    await wan.stop();
  }
}
if (values.json) console.log(JSON.stringify(rows, null, 2));
