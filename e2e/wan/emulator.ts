/**
 * WAN emulator: two network namespaces joined by a pair of TUN devices and a user-space
 * relay (relay/relay.c) that applies one-way delay, random loss and a bandwidth cap.
 *
 *   nsA: tunA 10.201.0.1  <->  wan-relay (root ns)  <->  tunB 10.201.0.2 :nsB
 *
 * See README.md in this folder for the model and its limits.
 */
import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const relaySource = path.join(here, "relay", "relay.c");
export const relayBinary = path.join(here, "relay", "build", "wan-relay");
export const udpToolSource = path.join(here, "relay", "wan-udp.c");
export const udpToolBinary = path.join(here, "relay", "build", "wan-udp");

/** One direction of the emulated link. */
export type LinkParams = {
  /** One-way propagation delay in milliseconds (default 0). */
  delayMs?: number;
  /** Probability 0..1 that a packet is dropped at random (default 0). */
  loss?: number;
  /** Bottleneck rate in Mbit/s of IP bytes; 0 or undefined = no cap. */
  bandwidthMbit?: number;
  /** Bottleneck queue limit in bytes (tail drop beyond it). Default: queueFactor x BDP. */
  queueBytes?: number;
  /** Queue limit as a multiple of bandwidth x RTT (RTT = 2 x delayMs), floor 100 packets. Default 1. */
  queueFactor?: number;
};

export type WanOptions = LinkParams & {
  /** Seed of the loss PRNG (default 1): the same seed and packet sequence drop the same packets. */
  seed?: number;
  /** Overrides for the B->A direction; by default it mirrors A->B. */
  reverse?: LinkParams;
  /**
   * TCP congestion control inside both namespaces (default "cubic"). The host default on
   * this machine is BBR, which by design hardly reacts to random loss; the textbook
   * loss/RTT behaviour is that of loss-based algorithms (cubic, reno).
   */
  tcpCongestion?: string;
  /** Max TCP socket buffers (tcp_rmem/tcp_wmem max) in both namespaces, default 64 MiB, so the window is not the limit at 400 Mbit/s x 200 ms. */
  tcpBufferBytes?: number;
  /** Run the relay's forwarding threads SCHED_FIFO (tighter pacing under CPU load). Default true. */
  realtime?: boolean;
  /** TUN MTU (default 1500). */
  mtu?: number;
};

export type LinkStats = {
  rxPackets: number;
  rxBytes: number;
  forwardedPackets: number;
  forwardedBytes: number;
  lossDrops: number;
  queueDrops: number;
  overflowDrops: number;
  writeErrors: number;
  /** How late packets were written relative to their computed release time. */
  lateAvgUs: number;
  lateMaxUs: number;
  /** Largest bottleneck backlog seen, and its limit (tail drop beyond it). */
  queueMaxBytes: number;
  queueLimitBytes: number;
  /** Size of the relay's buffer for this direction (queue + packets "on the wire"). */
  ringBytes: number;
  /** Time the capped link sat idle between packets (0 without a cap). */
  idleMs: number;
  /** Mean time of one write() into the receiving TUN (runs the receiving stack). */
  writeAvgUs: number;
};
export type RelayStats = { ab: LinkStats; ba: LinkStats };

export type ExecResult = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

export type Wan = {
  nsA: string;
  nsB: string;
  addrA: string;
  addrB: string;
  tunA: string;
  tunB: string;
  options: Required<Pick<WanOptions, "seed" | "tcpCongestion" | "tcpBufferBytes" | "mtu">> & {
    ab: Required<Omit<LinkParams, "queueBytes">> & { queueBytes: number };
    ba: Required<Omit<LinkParams, "queueBytes">> & { queueBytes: number };
  };
  /** Run a command inside a namespace (`ip netns exec`) to completion. */
  exec(ns: string, cmd: string, args?: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** Start a command inside a namespace; it is killed by stop() if still running. */
  spawn(ns: string, cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess;
  /** Current relay counters (SIGUSR1). */
  stats(): Promise<RelayStats>;
  /** Kill spawned processes and the relay, delete the namespaces. Returns the relay's final counters. Idempotent. */
  stop(): Promise<RelayStats | null>;
};

export type Availability = { ok: true } | { ok: false; reason: string };

const NS_PREFIX = "cwan-";
const NS_RE = /^cwan-(\d+)-\d+-[ab]$/;
const ADDR_A = "10.201.0.1";
const ADDR_B = "10.201.0.2";

let availability: Availability | null = null;

function has(cmd: string, args: string[] = ["--version"]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  return !r.error;
}

/**
 * Whether the emulator can run here: Linux, root, iproute2, /dev/net/tun, network
 * namespaces, a C compiler (or built binaries). CUMULUS_WAN=off turns it off.
 */
export function wanAvailable(): Availability {
  if (availability) return availability;
  availability = checkAvailability();
  return availability;
}

function checkAvailability(): Availability {
  if (process.env.CUMULUS_WAN === "off") return { ok: false, reason: "WAN emulator disabled by CUMULUS_WAN=off" };
  if (process.platform !== "linux")
    return { ok: false, reason: `WAN emulator needs Linux (platform is ${process.platform})` };
  if (process.getuid?.() !== 0)
    return { ok: false, reason: "WAN emulator needs root (network namespaces and TUN devices)" };
  if (!has("ip", ["-V"]))
    return { ok: false, reason: "WAN emulator needs iproute2 (`ip`): apt-get install -y iproute2" };
  try {
    closeSync(openSync("/dev/net/tun", "r+"));
  } catch (e) {
    return { ok: false, reason: `WAN emulator needs /dev/net/tun (${(e as Error).message})` };
  }
  if (!relayFresh() && !has("cc"))
    return { ok: false, reason: "WAN emulator needs a C compiler (`cc`) to build relay/relay.c" };
  const probe = `${NS_PREFIX}probe-${process.pid}`;
  const add = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) {
    return {
      ok: false,
      reason: `network namespaces unavailable: ip netns add failed: ${(add.stderr || add.error?.message || "").trim()}`,
    };
  }
  spawnSync("ip", ["netns", "del", probe], { stdio: "ignore" });
  return { ok: true };
}

const tools = [
  { src: relaySource, bin: relayBinary, flags: ["-pthread"] },
  { src: udpToolSource, bin: udpToolBinary, flags: [] },
];

function fresh(src: string, bin: string): boolean {
  try {
    accessSync(bin, constants.X_OK);
    return statSync(bin).mtimeMs >= statSync(src).mtimeMs;
  } catch {
    return false;
  }
}

function relayFresh(): boolean {
  return tools.every((t) => fresh(t.src, t.bin));
}

/**
 * Builds relay/build/wan-relay and relay/build/wan-udp with `cc -O2` when missing or
 * older than their source. Returns the relay's path.
 */
export function buildRelay(): string {
  for (const t of tools) {
    if (fresh(t.src, t.bin)) continue;
    mkdirSync(path.dirname(t.bin), { recursive: true });
    const tmp = `${t.bin}.${process.pid}.tmp`;
    const r = spawnSync("cc", ["-O2", "-Wall", ...t.flags, "-o", tmp, t.src], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`building ${path.basename(t.bin)} failed:\n${r.stderr || r.error?.message}`);
    // rename is atomic, so concurrent builders never see a half-written binary
    renameSync(tmp, t.bin);
  }
  return relayBinary;
}

function ip(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${(r.stderr || r.error?.message || "").trim()}`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes namespaces left behind by emulator processes that died without cleaning up. */
export function cleanupStale(): string[] {
  const removed: string[] = [];
  for (const name of emulatorNamespaces()) {
    const m = NS_RE.exec(name);
    if (m && !pidAlive(Number(m[1]))) {
      spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
      removed.push(name);
    }
  }
  restoreAllowedCongestion();
  return removed;
}

// ---- process-exit safety net -------------------------------------------------------
type Live = { relay: ChildProcess | null; namespaces: string[]; children: Set<ChildProcess> };
const live = new Set<Live>();
let hooksInstalled = false;

function syncCleanup(l: Live): void {
  for (const c of l.children) if (c.exitCode === null && c.pid) safeKill(c.pid, "SIGKILL");
  if (l.relay?.pid && l.relay.exitCode === null) safeKill(l.relay.pid, "SIGKILL");
  for (const ns of l.namespaces) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  live.delete(l);
  restoreAllowedCongestion();
}

function safeKill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", () => {
    for (const l of [...live]) syncCleanup(l);
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    // Only take over signals nobody else handles: clean up, then die of the same signal.
    if (process.listenerCount(sig) > 0) continue;
    const handler = (): void => {
      for (const l of [...live]) syncCleanup(l);
      process.removeListener(sig, handler);
      process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---- TCP congestion control --------------------------------------------------------------
// Outside the root namespace the kernel only lets a namespace's default congestion control
// be one of net.ipv4.tcp_allowed_congestion_control (a host-wide list; here "reno bbr").
// When the requested one is not listed we add it, saving the original list in a file, and
// put the original back once no emulator namespaces are left (checked when an emulator
// stops and by cleanupStale(), so a kill -9 is repaired by the next run).
const ALLOWED = "/proc/sys/net/ipv4/tcp_allowed_congestion_control";
const ALLOWED_SAVED = path.join(
  existsSync("/run") ? "/run" : os.tmpdir(),
  "cumulus-wan",
  "tcp_allowed_congestion_control",
);

function setNamespaceCongestion(ns: string, cc: string): void {
  const set = (): ReturnType<typeof spawnSync> =>
    spawnSync("ip", ["netns", "exec", ns, "sh", "-c", `echo ${cc} > /proc/sys/net/ipv4/tcp_congestion_control`], {
      encoding: "utf8",
    });
  if (set().status === 0) return;
  const available = readFileSync("/proc/sys/net/ipv4/tcp_available_congestion_control", "utf8").trim().split(/\s+/);
  if (!available.includes(cc))
    throw new Error(`TCP congestion control "${cc}" is not available here (${available.join(" ")})`);
  const allowed = readFileSync(ALLOWED, "utf8").trim();
  if (!allowed.split(/\s+/).includes(cc)) {
    if (!existsSync(ALLOWED_SAVED)) {
      mkdirSync(path.dirname(ALLOWED_SAVED), { recursive: true });
      writeFileSync(ALLOWED_SAVED, allowed);
    }
    writeFileSync(ALLOWED, `${allowed} ${cc}`);
  }
  const r = set();
  if (r.status !== 0) throw new Error(`setting ${cc} in ${ns} failed: ${String(r.stderr).trim()}`);
}

function emulatorNamespaces(): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  return (r.stdout ?? "")
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => NS_RE.test(n));
}

function restoreAllowedCongestion(): void {
  if (live.size > 0 || !existsSync(ALLOWED_SAVED) || emulatorNamespaces().length > 0) return;
  try {
    writeFileSync(ALLOWED, readFileSync(ALLOWED_SAVED, "utf8").trim());
    rmSync(ALLOWED_SAVED);
    rmSync(path.dirname(ALLOWED_SAVED), { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}

// ---- the emulator ---------------------------------------------------------------------
let counter = 0;

function num(v: number | undefined, def: number, name: string, min: number, max: number): number {
  const x = v ?? def;
  if (!Number.isFinite(x) || x < min || x > max)
    throw new RangeError(`${name} must be within [${min}, ${max}], got ${v}`);
  return x;
}

function resolveLink(
  p: LinkParams,
  base?: LinkParams,
): Required<Omit<LinkParams, "queueBytes">> & { queueBytes: number } {
  const m = { ...base, ...p };
  return {
    delayMs: num(m.delayMs, 0, "delayMs", 0, 10_000),
    loss: num(m.loss, 0, "loss", 0, 1),
    bandwidthMbit: num(m.bandwidthMbit, 0, "bandwidthMbit", 0, 100_000),
    queueBytes: num(m.queueBytes, 0, "queueBytes", 0, 2 ** 31),
    queueFactor: num(m.queueFactor, 1, "queueFactor", 0.01, 100),
  };
}

export async function startWan(opts: WanOptions = {}): Promise<Wan> {
  const avail = wanAvailable();
  if (!avail.ok) throw new Error(avail.reason);
  const fwd: LinkParams = {
    delayMs: opts.delayMs,
    loss: opts.loss,
    bandwidthMbit: opts.bandwidthMbit,
    queueBytes: opts.queueBytes,
    queueFactor: opts.queueFactor,
  };
  for (const k of Object.keys(fwd) as (keyof LinkParams)[]) if (fwd[k] === undefined) delete fwd[k];
  const ab = resolveLink(fwd);
  const ba = resolveLink(opts.reverse ?? {}, fwd);
  const seed = Math.trunc(num(opts.seed, 1, "seed", 0, Number.MAX_SAFE_INTEGER));
  const tcpCongestion = opts.tcpCongestion ?? "cubic";
  const tcpBufferBytes = Math.trunc(num(opts.tcpBufferBytes, 64 * 1024 * 1024, "tcpBufferBytes", 65536, 2 ** 30));
  const mtu = Math.trunc(num(opts.mtu, 1500, "mtu", 576, 2000));
  if (!/^[a-z0-9_]+$/.test(tcpCongestion)) throw new Error(`bad tcpCongestion ${tcpCongestion}`);

  buildRelay();
  cleanupStale();
  installExitHooks();

  const n = ++counter;
  const nsA = `${NS_PREFIX}${process.pid}-${n}-a`;
  const nsB = `${NS_PREFIX}${process.pid}-${n}-b`;
  const tunA = `cw${process.pid}x${n}a`.slice(0, 15);
  const tunB = `cw${process.pid}x${n}b`.slice(0, 15);

  const relayArgs = ["--tun-a", tunA, "--tun-b", tunB, "--seed", String(seed)];
  const linkArgs = (prefix: string, l: ReturnType<typeof resolveLink>): string[] => [
    `--${prefix}delay-ms`,
    String(l.delayMs),
    `--${prefix}loss`,
    String(l.loss),
    `--${prefix}bw-mbit`,
    String(l.bandwidthMbit),
    `--${prefix}queue-bytes`,
    String(l.queueBytes),
    `--${prefix}queue-factor`,
    String(l.queueFactor),
  ];
  relayArgs.push(...linkArgs("", ab), ...linkArgs("ba-", ba));
  if (opts.realtime ?? true) relayArgs.push("--rt");

  const state: Live = { relay: null, namespaces: [], children: new Set() };
  let stopped: Promise<RelayStats | null> | null = null;
  const statsWaiters: { resolve: (s: RelayStats) => void; reject: (e: Error) => void }[] = [];
  let lastStats: RelayStats | null = null;
  let relayStderr = "";

  try {
    for (const ns of [nsA, nsB]) {
      ip(["netns", "add", ns]);
      state.namespaces.push(ns);
      live.add(state);
      // Sysctls first, so the TUN device arriving later inherits disable_ipv6 (no stray
      // IPv6 router solicitations through the link, which would also perturb the loss PRNG).
      const sysctls: [string, string][] = [
        ["net/ipv6/conf/all/disable_ipv6", "1"],
        ["net/ipv6/conf/default/disable_ipv6", "1"],
        ["net/ipv4/tcp_rmem", `4096 131072 ${tcpBufferBytes}`],
        ["net/ipv4/tcp_wmem", `4096 16384 ${tcpBufferBytes}`],
        ["net/ipv4/tcp_no_metrics_save", "1"],
      ];
      const script = sysctls.map(([k, v]) => `echo '${v}' > /proc/sys/${k}`).join(" && ");
      const r = spawnSync("ip", ["netns", "exec", ns, "sh", "-c", script], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`configuring ${ns} failed: ${r.stderr.trim()}`);
      setNamespaceCongestion(ns, tcpCongestion);
    }

    const relay = spawn(relayBinary, relayArgs, { stdio: ["pipe", "pipe", "pipe"] });
    state.relay = relay;
    relay.stderr!.setEncoding("utf8");
    relay.stderr!.on("data", (d: string) => {
      relayStderr += d;
    });
    const lines = createInterface({ input: relay.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`wan-relay did not start: ${relayStderr}`)), 5000);
      relay.once("exit", (code) => {
        clearTimeout(t);
        reject(new Error(`wan-relay exited (${code}): ${relayStderr.trim()}`));
      });
      relay.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
      lines.on("line", (line) => {
        if (line.startsWith("READY ")) {
          clearTimeout(t);
          resolve();
        } else if (line.startsWith("STATS ")) {
          lastStats = JSON.parse(line.slice(6)) as RelayStats;
          for (const w of statsWaiters.splice(0)) w.resolve(lastStats);
        }
      });
    });
    await ready;
    relay.once("exit", (code, sig) => {
      for (const w of statsWaiters.splice(0)) {
        if (lastStats) w.resolve(lastStats);
        else w.reject(new Error(`wan-relay exited (${code ?? sig}): ${relayStderr.trim()}`));
      }
    });

    // The relay holds the TUN fds; the devices move into the namespaces and keep working.
    const cfg = (ns: string, dev: string, local: string, peer: string): void => {
      ip(["link", "set", dev, "netns", ns]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      ip(["-n", ns, "addr", "add", `${local}/32`, "peer", `${peer}/32`, "dev", dev]);
      ip(["-n", ns, "link", "set", dev, "mtu", String(mtu), "txqueuelen", "1000", "up"]);
    };
    cfg(nsA, tunA, ADDR_A, ADDR_B);
    cfg(nsB, tunB, ADDR_B, ADDR_A);
  } catch (e) {
    syncCleanup(state);
    throw e;
  }

  const relay = state.relay!;

  const wan: Wan = {
    nsA,
    nsB,
    addrA: ADDR_A,
    addrB: ADDR_B,
    tunA,
    tunB,
    options: { seed, tcpCongestion, tcpBufferBytes, mtu, ab, ba },

    exec(ns, cmd, args = [], o = {}) {
      return new Promise((resolve, reject) => {
        const child = execFile(
          "ip",
          ["netns", "exec", ns, cmd, ...args],
          { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 0, killSignal: "SIGKILL" },
          (err, stdout, stderr) => {
            state.children.delete(child);
            const e = err as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals }) | null;
            if (e && typeof e.code === "string") return reject(e);
            resolve({
              code: e ? (typeof e.code === "number" ? e.code : null) : 0,
              signal: e?.signal ?? null,
              stdout,
              stderr,
            });
          },
        );
        state.children.add(child);
        child.stdin?.end(o.input);
      });
    },

    spawn(ns, cmd, args = [], o = {}) {
      const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], o);
      state.children.add(child);
      child.once("exit", () => state.children.delete(child));
      return child;
    },

    stats() {
      if (relay.exitCode !== null || stopped) {
        return lastStats ? Promise.resolve(lastStats) : Promise.reject(new Error("relay not running"));
      }
      return new Promise((resolve, reject) => {
        statsWaiters.push({ resolve, reject });
        relay.kill("SIGUSR1");
      });
    },

    stop() {
      stopped ??= (async () => {
        for (const c of state.children) if (c.exitCode === null) c.kill("SIGKILL");
        let final: RelayStats | null = lastStats;
        if (relay.exitCode === null) {
          const got = new Promise<RelayStats | null>((resolve) => {
            statsWaiters.push({ resolve, reject: () => resolve(null) });
            relay.once("exit", () => resolve(lastStats));
          });
          relay.kill("SIGTERM");
          final = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
          if (relay.exitCode === null) relay.kill("SIGKILL");
        }
        syncCleanup(state);
        return final ?? lastStats;
      })();
      return stopped;
    },
  };
  return wan;
}

/** Runs fn with a fresh emulator and always tears it down. */
export async function withWan<T>(opts: WanOptions, fn: (wan: Wan) => Promise<T>): Promise<T> {
  const wan = await startWan(opts);
  try {
    return await fn(wan);
  } finally {
    await wan.stop();
  }
}
