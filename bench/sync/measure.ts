// The three measurements of `npm run bench -- sync`, written once against a `SyncPair` so
// Cumulus and Syncthing are timed by exactly the same code: write on side A, poll side B's
// file system until the bytes are there.
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { mkdir, readFile, readdir, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { processCpuSeconds, sha256File, sleep, writeRandomFile } from "../lib/harness.ts";

/** Two synced folders on this machine, however they are kept in sync. */
export interface SyncPair {
  /** "Syncthing 1.19.2", "Cumulus". */
  label: string;
  /** The synced folders: written in A, read in B. */
  dirA: string;
  dirB: string;
  /** Processes whose CPU time the pair costs (agents, daemons, servers). */
  pids(): Promise<number[]>;
  /** Resolves once both sides say they have nothing left to do (between measurements). */
  settle(signal: AbortSignal): Promise<void>;
  /** What to call each of `pids()` in the per-process CPU split (default: the pid). */
  names?(): Promise<Map<number, string>>;
}

export interface Measured<T> {
  value: T;
  /** CPU seconds of the pair's processes during the measurement. */
  cpuS: number;
  /** The same split by process name (processes of one name summed), largest first. */
  cpuBy: [string, number][];
}

/**
 * Every live process of process group `pgid`: daemons fork (Syncthing runs a monitor and
 * the real process under it), and all of them count.
 */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // Fields after the parenthesised name: state, ppid, pgrp, …
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === pgid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

function cpuOf(pids: number[]): Map<number, number> {
  return new Map(pids.map((p) => [p, processCpuSeconds(p) ?? 0]));
}

async function withCpu<T>(pair: SyncPair, fn: () => Promise<T>): Promise<Measured<T>> {
  const pids = await pair.pids();
  const names = (await pair.names?.()) ?? new Map<number, string>();
  const before = cpuOf(pids);
  const value = await fn();
  const after = cpuOf(pids);
  const by = new Map<string, number>();
  let cpuS = 0;
  for (const p of pids) {
    const d = after.get(p)! - before.get(p)!;
    cpuS += d;
    const name = names.get(p) ?? `pid ${p}`;
    by.set(name, (by.get(name) ?? 0) + d);
  }
  return { value, cpuS, cpuBy: [...by].sort((a, b) => b[1] - a[1]) };
}

/** Whether `file` holds exactly `bytes` (size first: cheap, and the common "not yet"). */
async function holds(file: string, bytes: Buffer): Promise<boolean> {
  try {
    if ((await stat(file)).size !== bytes.length) return false;
    return (await readFile(file)).equals(bytes);
  } catch {
    return false;
  }
}

function timeoutError(what: string, ms: number): Error {
  return new Error(`${what}: not there after ${Math.round(ms / 1000)} s`);
}

/**
 * (a) Latency: one small file at a time written into A, timed until its bytes are in B
 * (polled every 5 ms); the next file only after the previous one arrived.
 */
export async function measureLatency(
  pair: SyncPair,
  o: { files: number; bytes: number; timeoutMs: number; signal: AbortSignal; log: (m: string) => void },
): Promise<Measured<number[]>> {
  const dirA = path.join(pair.dirA, "latency");
  const dirB = path.join(pair.dirB, "latency");
  await mkdir(dirA, { recursive: true });
  await pair.settle(o.signal);
  return withCpu(pair, async () => {
    const out: number[] = [];
    for (let i = 0; i < o.files; i++) {
      const name = `small-${String(i).padStart(3, "0")}.txt`;
      const bytes = randomBytes(o.bytes);
      const t0 = performance.now();
      await writeFile(path.join(dirA, name), bytes);
      for (;;) {
        if (await holds(path.join(dirB, name), bytes)) break;
        if (performance.now() - t0 > o.timeoutMs)
          throw timeoutError(`${pair.label}: latency file ${name}`, o.timeoutMs);
        await sleep(5, o.signal);
      }
      out.push(performance.now() - t0);
      if ((i + 1) % 10 === 0)
        o.log(`${pair.label}: ${i + 1}/${o.files} small files, last ${Math.round(out.at(-1)!)} ms`);
    }
    return out;
  });
}

/**
 * (b) Many small files: written into a staging folder outside the synced folder (untimed),
 * then moved into A in one rename; timed from the rename until every file is in B with
 * its bytes (B polled every 100 ms, each file read once when its size is right).
 */
export async function measureMany(
  pair: SyncPair,
  o: {
    files: number;
    bytes: number;
    stageDir: string;
    timeoutMs: number;
    signal: AbortSignal;
    log: (m: string) => void;
  },
): Promise<Measured<number>> {
  const staged = path.join(o.stageDir, "many");
  await mkdir(staged, { recursive: true });
  const expected = new Map<string, Buffer>();
  for (let i = 0; i < o.files; i++) {
    const name = `f${String(i).padStart(5, "0")}.bin`;
    const bytes = randomBytes(o.bytes);
    expected.set(name, bytes);
    await writeFile(path.join(staged, name), bytes);
  }
  await pair.settle(o.signal);
  const dirB = path.join(pair.dirB, "many");
  return withCpu(pair, async () => {
    const t0 = performance.now();
    await rename(staged, path.join(pair.dirA, "many"));
    const pending = new Set(expected.keys());
    let lastLog = t0;
    while (pending.size > 0) {
      await sleep(100, o.signal);
      const names = await readdir(dirB).catch(() => [] as string[]);
      for (const n of names) {
        if (pending.has(n) && (await holds(path.join(dirB, n), expected.get(n)!))) pending.delete(n);
      }
      const now = performance.now();
      if (pending.size > 0 && now - t0 > o.timeoutMs)
        throw timeoutError(`${pair.label}: ${pending.size} of ${o.files} small files`, o.timeoutMs);
      if (now - lastLog > 10_000) {
        lastLog = now;
        o.log(`${pair.label}: ${o.files - pending.size}/${o.files} small files arrived`);
      }
    }
    return performance.now() - t0;
  });
}

/**
 * (c) One big file of random bytes: written outside the synced folder (untimed), moved into
 * A; timed until B holds a file of the right size (polled every 100 ms) whose SHA-256 then
 * matches (the hash is not timed; a mismatch keeps polling).
 */
export async function measureBig(
  pair: SyncPair,
  o: { bytes: number; stageDir: string; timeoutMs: number; signal: AbortSignal; log: (m: string) => void },
): Promise<Measured<number>> {
  await mkdir(o.stageDir, { recursive: true });
  const staged = path.join(o.stageDir, "big.bin");
  const sha = await writeRandomFile(staged, o.bytes, o.signal);
  await pair.settle(o.signal);
  const fileB = path.join(pair.dirB, "big.bin");
  return withCpu(pair, async () => {
    const t0 = performance.now();
    await rename(staged, path.join(pair.dirA, "big.bin"));
    let lastLog = t0;
    for (;;) {
      await sleep(100, o.signal);
      const now = performance.now();
      const size = await stat(fileB).then(
        (s) => s.size,
        () => -1,
      );
      // Timed to the observation; a wrong hash (a torn write) just means keep polling.
      if (size === o.bytes && (await sha256File(fileB)) === sha) return now - t0;
      if (now - t0 > o.timeoutMs) throw timeoutError(`${pair.label}: big file`, o.timeoutMs);
      if (now - lastLog > 10_000) {
        lastLog = now;
        o.log(`${pair.label}: big file ${size < 0 ? "not there yet" : `${size} of ${o.bytes} bytes`}`);
      }
    }
  });
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
