// Shared pieces of the benchmarks: the options every benchmark gets, child processes with
// time limits and clean-up, sizes and rates, tables, files and the page cache.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomFill } from "node:crypto";
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { promisify } from "node:util";

const randomFillAsync = promisify(randomFill);

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** What `npm run bench -- NAME [options]` hands every benchmark's `run(opts)`. */
export interface BenchOptions {
  /** `--size`, in bytes; null: the benchmark's default (or its quick size with `--quick`). */
  size: number | null;
  /** `--quick`: small sizes, a smoke run of about a minute. */
  quick: boolean;
  /** `--keep`: leave the work directory (and profiles) in place. */
  keep: boolean;
  /** `--profile`: write V8 CPU profiles of the processes under test into `workDir/profiles`. */
  profile: boolean;
  /** The benchmark's own options (\`--only syncthing\` → \`{ only: "syncthing" }\`), as declared in its \`flags\`. */
  flags: Record<string, string>;
  /** A fresh directory on the repository's disk (not tmpfs), removed afterwards unless `--keep`. */
  workDir: string;
  /** Aborted on Ctrl-C and when the benchmark's time is up: stop, then clean up. */
  signal: AbortSignal;
  /** A progress line on stderr (results go in the returned tables). */
  log(message: string): void;
  /** Registers a clean-up step; they run last-in first-out when the benchmark ends, however it ends. */
  defer(fn: () => unknown): void;
}

/** What a benchmark returns: printed, and recorded in docs/benchmarks.md. */
export interface BenchResult {
  /** One line naming what was measured, e.g. "1 GiB random file". */
  headline: string;
  tables: { title: string; table: Table }[];
  /** Conditions and caveats, one sentence each (markdown allowed). */
  notes: string[];
  /** The few numbers worth tracking across runs: one row of the section's history table. */
  history: Record<string, string>;
}

export interface Benchmark {
  /** One line for the listing. */
  summary: string;
  /** Markdown paragraph(s) for docs/benchmarks.md: what is measured and how. */
  method: string;
  /** Time limit for one run with these options (default 10 min, 3 min with --quick). */
  timeoutMs?(opts: Pick<BenchOptions, "size" | "quick" | "flags">): number;
  /** Options of its own, each \`--name VALUE\`: name → one line of help. */
  flags?: Record<string, string>;
  run(opts: BenchOptions): Promise<BenchResult>;
}

// --- sizes, rates, formatting --------------------------------------------------------

/** "1G", "64M", "512KiB", "1048576" → bytes (binary units). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size "${s}": expected e.g. 64M, 1G, 512K or a byte count`);
  const mult = { "": 1, k: KiB, m: MiB, g: GiB, t: 1024 * GiB }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const n = Math.round(Number(m[1]) * mult);
  if (n <= 0) throw new Error(`bad size "${s}": must be positive`);
  return n;
}

export function humanSize(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

/** MB/s with MB = 10^6 bytes (as dd and most tools print). */
export function mbps(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : Infinity;
}

export function fmtRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

export function fmtSeconds(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
}

// --- tables ----------------------------------------------------------------------------

export interface Table {
  headers: string[];
  rows: string[][];
  /** Per column; default: first column left, the others right. */
  align?: ("left" | "right")[];
}

function alignOf(t: Table, i: number): "left" | "right" {
  return t.align?.[i] ?? (i === 0 ? "left" : "right");
}

/** For the terminal: aligned columns. */
export function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (alignOf(t, i) === "left" ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(t.headers), line(widths.map((w) => "-".repeat(w))), ...t.rows.map(line)].join("\n");
}

/** For docs/benchmarks.md: a GitHub table. */
export function renderMarkdown(t: Table): string {
  // Leading spaces (indented sub-rows) would be trimmed: keep them as non-breaking spaces.
  const esc = (c: string) => c.replace(/\|/g, "\\|").replace(/^ +/, (sp) => "&nbsp;".repeat(sp.length));
  return [
    `| ${t.headers.map(esc).join(" | ")} |`,
    `| ${t.headers.map((_, i) => (alignOf(t, i) === "left" ? "---" : "---:")).join(" | ")} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

// --- child processes -------------------------------------------------------------------

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed (whole process group) after this long; default 10 min. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  /** Measure the CPU time (user + system) of the command and its children. */
  cpu?: boolean;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** CPU seconds (user + system) of the command, with `cpu: true`. */
  cpuS?: number;
}

/** Processes still running, killed synchronously if we exit without cleaning up. */
const live = new Map<number, { group: boolean; signal: NodeJS.Signals }>();

/** Remembers a process group we started (killed with SIGKILL at exit if still there). */
export function trackGroup(pgid: number): void {
  live.set(pgid, { group: true, signal: "SIGKILL" });
}

/** Remembers a single process, sent `signal` at exit if still there (e.g. SIGINT to a supervisor). */
export function trackProcess(pid: number, signal: NodeJS.Signals): void {
  live.set(pid, { group: false, signal });
}

export function untrackGroup(pid: number): void {
  live.delete(pid);
}

export const untrackProcess = untrackGroup;

/**
 * Stops a process group we started: `signal` first (as a person stops it), SIGKILL to the
 * group if it has not exited after `graceMs`. Resolves when it has exited.
 */
export async function stopGroup(
  pgid: number,
  signal: NodeJS.Signals,
  exited: Promise<void>,
  graceMs = 10_000,
): Promise<void> {
  try {
    process.kill(-pgid, signal);
  } catch {
    return;
  }
  const killer = setTimeout(() => {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // gone
    }
  }, graceMs);
  await exited;
  clearTimeout(killer);
}

/** Last resort on exit: stop everything we started and did not reap. */
export function killTrackedGroupsSync(): void {
  for (const [pid, how] of live) {
    try {
      process.kill(how.group ? -pid : pid, how.signal);
    } catch {
      // gone
    }
  }
  live.clear();
}

const MAX_OUTPUT = 8 * MiB;

/**
 * Runs a command in its own process group (so Ctrl-C reaches us, not it, and a time-out
 * kills everything it started) and resolves with its output and wall time. Throws on a
 * non-zero exit unless `allowFail`, on time-out and on abort.
 */
export function exec(cmd: string, args: string[], o: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = o.timeoutMs ?? 600_000;
  // `times` prints the shell's and then its children's user/system times.
  const [file, argv] = o.cpu ? ["sh", ["-c", '"$@"; rc=$?; times >&2; exit $rc', "sh", cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) return reject(o.signal.reason);
    const t0 = performance.now();
    const child = spawn(file, argv, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const pgid = child.pid;
    if (pgid !== undefined) trackGroup(pgid);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString("utf8");
    });
    let failure: unknown = null;
    const kill = (why: unknown) => {
      failure ??= why;
      if (pgid === undefined) return;
      try {
        process.kill(-pgid, "SIGTERM");
      } catch {
        // gone
      }
      setTimeout(() => {
        try {
          process.kill(-pgid, "SIGKILL");
        } catch {
          // gone
        }
      }, 3000).unref();
    };
    const timer = setTimeout(
      () => kill(new Error(`${cmd} ${args.join(" ")}: no result after ${Math.round(timeoutMs / 1000)} s, killed`)),
      timeoutMs,
    );
    const onAbort = () => kill(o.signal!.reason);
    o.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (err) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (pgid !== undefined) untrackGroup(pgid);
      reject(new Error(`cannot run ${cmd}: ${err.message}`));
    });
    child.once("close", (code) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (pgid !== undefined) untrackGroup(pgid);
      let cpuS: number | undefined;
      if (o.cpu) {
        const lines = stderr.trimEnd().split("\n");
        const children = lines.at(-1) ?? "";
        const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
        if (secs.length === 2) {
          cpuS = secs[0]! + secs[1]!;
          stderr = lines.slice(0, -2).join("\n");
        }
      }
      if (failure !== null) return reject(failure);
      if (code !== 0 && !o.allowFail) {
        const tail = (stderr.trim() || stdout.trim()).split("\n").slice(-8).join("\n");
        return reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}${tail ? `:\n${tail}` : ""}`));
      }
      resolve({ code, stdout, stderr, ms, ...(cpuS !== undefined ? { cpuS } : {}) });
    });
  });
}

/** Times an in-process step. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

// --- files and the page cache ----------------------------------------------------------

/**
 * Writes `size` bytes of fresh random data (unique content: nothing deduplicates) and
 * returns its SHA-256.
 */
export async function writeRandomFile(file: string, size: number, signal?: AbortSignal): Promise<string> {
  const h = createHash("sha256");
  const fh = await open(file, "w");
  try {
    const block = Buffer.allocUnsafe(8 * MiB);
    for (let off = 0; off < size; off += block.length) {
      signal?.throwIfAborted();
      const n = Math.min(block.length, size - off);
      const view = block.subarray(0, n);
      await randomFillAsync(view);
      h.update(view);
      let written = 0;
      while (written < n) written += (await fh.write(view, written, n - written)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return h.digest("hex");
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const b of createReadStream(file, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest("hex");
}

/** Reads a file through the page cache and throws the bytes away (untimed warm-up). */
export async function readThrough(file: string): Promise<void> {
  for await (const _ of createReadStream(file, { highWaterMark: 4 * MiB })) {
    // nothing
  }
}

export function syncAll(): void {
  spawnSync("sync", [], { stdio: "ignore", timeout: 300_000 });
}

/**
 * `sync; echo 3 > /proc/sys/vm/drop_caches`: true when the kernel let us (root, not a
 * read-only /proc), so the next read comes from the disk.
 */
export function dropCaches(): boolean {
  syncAll();
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

export { sleep } from "@cumulus/client/http";

/** CPU seconds (user + system) a running process has used so far; null if it is gone. */
export function processCpuSeconds(pid: number): number | null {
  const stat = readFileSyncSafe(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

const CLK_TCK = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

function readFileSyncSafe(p: string): string | null {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return null;
  }
}
