import { afterEach, describe, expect, it } from "vitest";
import { startWan, wanAvailable, type Wan, type WanOptions } from "./emulator.ts";
import { hasIcmpPing, ping, tcpThroughput, udpCapacity } from "./measure.ts";

const avail = wanAvailable();
if (!avail.ok) console.warn(`[wan emulator] tests skipped: ${avail.reason}`);

const running: Wan[] = [];
async function wan(o: WanOptions): Promise<Wan> {
  const w = await startWan(o);
  running.push(w);
  return w;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

/** Bounds that hold with probability > 99.99 % for Binomial(n, p). */
function binomialBounds(n: number, p: number): [number, number] {
  const sd = Math.sqrt(n * p * (1 - p));
  return [n * p - 4 * sd, n * p + 4 * sd];
}

describe.skipIf(!avail.ok)("WAN emulator (namespaces + TUN + user-space relay)", () => {
  it("adds the configured one-way delay in each direction: RTT = 2 x delay", async () => {
    const w = await wan({ delayMs: 20 });
    // the Node UDP echo always; ICMP ping too where iputils-ping is installed
    for (const method of hasIcmpPing() ? (["udp", "icmp"] as const) : (["udp"] as const)) {
      const r = await ping(w, { count: 20, intervalMs: 20, method });
      expect(r.received, method).toBe(20);
      expect(r.rttMinMs, method).toBeGreaterThanOrEqual(40);
      // the median: one probe held up by CPU load elsewhere must not fail the test
      expect(r.rttMedianMs, method).toBeGreaterThan(30);
      expect(r.rttMedianMs, method).toBeLessThan(50);
    }
  });

  it("drops packets at random with the configured probability", async () => {
    // loss on A->B only: each lost echo request is one lost ping
    const w = await wan({ delayMs: 2, loss: 0.1, reverse: { loss: 0 }, seed: 7 });
    const r = await ping(w, { count: 500, intervalMs: 2, timeoutMs: 1000, method: "udp" });
    const [lo, hi] = binomialBounds(500, 0.1);
    const lost = r.sent - r.received;
    expect(lost).toBeGreaterThan(lo);
    expect(lost).toBeLessThan(hi);
    // the probes are the only traffic (IPv6 is off in the namespaces): the relay agrees
    const s = await w.stats();
    expect(s.ab.lossDrops).toBe(lost);
    expect(s.ba.lossDrops).toBe(0);
  });

  it("applies loss in both directions by default", async () => {
    const w = await wan({ delayMs: 2, loss: 0.1, seed: 11 });
    const r = await ping(w, { count: 500, intervalMs: 2, timeoutMs: 1000, method: "udp" });
    // a round trip survives with (1 - 0.1)^2: 19 % of pings lost
    const [lo, hi] = binomialBounds(500, 1 - 0.9 * 0.9);
    const lost = r.sent - r.received;
    expect(lost).toBeGreaterThan(lo);
    expect(lost).toBeLessThan(hi);
  });

  it("caps the bandwidth: a UDP blast at twice the cap arrives at the cap", async () => {
    const w = await wan({ delayMs: 5, bandwidthMbit: 100 });
    const u = await udpCapacity(w, { rateMbit: 200, seconds: 2 });
    expect(u.mbit).toBeGreaterThan(85);
    expect(u.mbit).toBeLessThan(115);
    const s = await w.stats();
    expect(s.ab.queueDrops).toBeGreaterThan(0); // the excess was tail-dropped
  });

  it("TCP throughput falls with RTT and loss while the raw capacity stays the same", { timeout: 90_000 }, async () => {
    const cap = 200;
    const near = await wan({ delayMs: 1, loss: 0, bandwidthMbit: cap, seed: 3 });
    const nearRaw = await udpCapacity(near, { seconds: 1.5 });
    const nearTcp = await tcpThroughput(near, { seconds: 5, warmupSeconds: 1 });
    await near.stop();

    const far = await wan({ delayMs: 50, loss: 0.01, bandwidthMbit: cap, seed: 3 });
    const farRaw = await udpCapacity(far, { seconds: 1.5 });
    const farTcp = await tcpThroughput(far, { seconds: 5, warmupSeconds: 1 });

    console.log(
      `[wan emulator] cap ${cap} Mbit/s, cubic: RTT 2 ms/0 loss raw ${nearRaw.mbit.toFixed(1)} TCP ${nearTcp.mbit.toFixed(1)}; ` +
        `RTT 100 ms/1 % loss raw ${farRaw.mbit.toFixed(1)} TCP ${farTcp.mbit.toFixed(2)} Mbit/s`,
    );
    // the link itself delivers the cap in both settings
    for (const raw of [nearRaw, farRaw]) {
      expect(raw.mbit).toBeGreaterThan(cap * 0.85);
      expect(raw.mbit).toBeLessThan(cap * 1.15);
    }
    // a short, clean path lets one TCP connection use most of it ...
    expect(nearTcp.mbit).toBeGreaterThan(cap * 0.5);
    // ... a long, lossy one does not (Mathis: ~MSS/RTT x 1.22/sqrt(p) = 1.4 Mbit/s)
    expect(farTcp.mbit).toBeLessThan(nearTcp.mbit * 0.4);
    expect(farTcp.mbit).toBeLessThan(20);
  });
});
