// `npm run bench -- sync`: two Cumulus sync agents against two Syncthing instances on the
// same machine in the same run: small-file latency, many small files, one big file.
import os from "node:os";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import {
  GiB,
  KiB,
  MiB,
  fmtRate,
  fmtSeconds,
  humanSize,
  mbps,
  type BenchOptions,
  type BenchResult,
  type Table,
} from "./lib/harness.ts";
import { profileWhile } from "./lib/inspect.ts";
import { requireAgent, startCumulusPair } from "./sync/cumulus.ts";
import { measureBig, measureLatency, measureMany, percentile, type Measured, type SyncPair } from "./sync/measure.ts";
import { startSyncthing } from "./sync/syncthing.ts";

export const summary = "sync agents vs Syncthing: small-file latency p50/p95, 10,000 × 4 KiB, one 1 GiB file";

const DEFAULT_WATCHER_DELAY_S = 10;

export const method = `Two Cumulus sync agents (\`cumulus sync DIR --remote /bench-sync --state-dir …
--device …\`, started from the CLI as a user would, each on its own folder) on a fresh cluster in
a box, next to two Debian \`syncthing\` instances in the same run on the same disk: each with its
own home, on loopback with static addresses, introduced to each other by device id, one shared
folder, file-system watcher on (\`fsWatcherDelayS\` ${DEFAULT_WATCHER_DELAY_S}, Syncthing's
default; \`--watcher-delay S\` changes it), global and local discovery, relays, NAT traversal,
usage and crash reporting off, \`setLowPriority\` off so it competes for the CPU like our
processes. One system runs at a time (the other is stopped); both are timed by the same code
(\`bench/sync/measure.ts\`), which writes in folder A and polls folder B's file system:

- **(a) latency**: 50 files of 1 KiB, one at a time: from just before \`writeFile\` in A until B
  holds the same bytes (polled every 5 ms); p50 and p95.
- **(b) many small files**: 10,000 files of 4 KiB of random bytes written into a staging folder
  outside the synced folders (untimed), then moved into A with one \`rename\`; timed until every
  file is in B with its bytes (B polled every 100 ms).
- **(c) one big file**: SIZE (default 1 GiB, \`--size\`) of random bytes, staged and moved in the
  same way; timed until B holds a file of that size (polled every 100 ms) whose SHA-256 matches.

Between measurements both sides must report themselves idle. CPU seconds are those of the
pair's processes during each measurement (\`/proc/PID/stat\`): both Syncthing daemons; for
Cumulus both agents plus every process of the cluster (control plane, worker, storage nodes;
PostgreSQL excluded); the log splits (b) and (c) by process. \`--quick\`: 5 latency files, 500
small files, 64 MiB. \`--only syncthing\` or \`--only cumulus\` runs one side; \`--many N\` sets the
number of small files, \`--skip latency,many,big\` leaves measurements out, \`--profile\` writes a
V8 CPU profile of each agent (and with \`--profile-process NAME\`, of that process during (c)).

Targets: latency p50 < 1 s and ≤ 0.25 × Syncthing's; 10,000 small files faster than Syncthing;
the big file within 1.2 × Syncthing's time. A MISS is reported, not a failure.`;

export const flags = {
  only: "syncthing or cumulus: run one side only (no ratios)",
  many: "number of 4 KiB files in (b) (default 10,000; 500 with --quick)",
  skip: "measurements left out, comma-separated: latency, many, big (e.g. --skip latency,big)",
  "watcher-delay": `Syncthing's fsWatcherDelayS (default ${DEFAULT_WATCHER_DELAY_S}, its own default)`,
  "profile-process": "with --profile: also a CPU profile of this process of the pair during (c), e.g. branch-1",
};

interface Sizes {
  latencyFiles: number;
  manyFiles: number;
  big: number;
  skip: ReadonlySet<Measurement>;
}

const MEASUREMENTS = ["latency", "many", "big"] as const;
type Measurement = (typeof MEASUREMENTS)[number];

function sizesOf(opts: Pick<BenchOptions, "size" | "quick" | "flags">): Sizes {
  const manyRaw = opts.flags.many;
  const many = manyRaw === undefined ? (opts.quick ? 500 : 10_000) : Number(manyRaw);
  if (!Number.isInteger(many) || many < 1) throw new Error(`--many must be a whole number ≥ 1, not "${manyRaw}"`);
  const skip = new Set<Measurement>();
  for (const m of (opts.flags.skip ?? "").split(",").filter(Boolean)) {
    if (!(MEASUREMENTS as readonly string[]).includes(m))
      throw new Error(`--skip takes ${MEASUREMENTS.join(", ")} (comma-separated), not "${m}"`);
    skip.add(m as Measurement);
  }
  return {
    latencyFiles: opts.quick ? 5 : 50,
    manyFiles: many,
    big: opts.size ?? (opts.quick ? 64 * MiB : GiB),
    skip,
  };
}

export function timeoutMs(opts: Pick<BenchOptions, "size" | "quick" | "flags">): number {
  const s = sizesOf(opts);
  // Per system: cluster start, latency files at up to 30 s each under load, 10k files at
  // >= 20 files/s, the big file staged and synced at >= 2 MB/s.
  const one = 180_000 + s.latencyFiles * 30_000 + s.manyFiles * 50 + (s.big / 2e6) * 1000 * 2;
  return 2 * one;
}

interface SideResult {
  label: string;
  latency: Measured<number[]> | null;
  many: Measured<number> | null;
  big: Measured<number> | null;
}

async function measureSide(pair: SyncPair, opts: BenchOptions, sizes: Sizes, stageDir: string): Promise<SideResult> {
  const common = { signal: opts.signal, log: opts.log };
  let latency: Measured<number[]> | null = null;
  let many: Measured<number> | null = null;
  let big: Measured<number> | null = null;
  if (!sizes.skip.has("latency")) {
    opts.log(`${pair.label}: (a) latency, ${sizes.latencyFiles} files of 1 KiB`);
    latency = await measureLatency(pair, { ...common, files: sizes.latencyFiles, bytes: KiB, timeoutMs: 120_000 });
    opts.log(`${pair.label}: p50 ${Math.round(percentile(latency.value, 50))} ms`);
  }
  if (!sizes.skip.has("many")) {
    opts.log(`${pair.label}: (b) ${sizes.manyFiles} files of 4 KiB`);
    many = await measureMany(pair, {
      ...common,
      files: sizes.manyFiles,
      bytes: 4 * KiB,
      stageDir,
      timeoutMs: 120_000 + sizes.manyFiles * 100,
    });
    opts.log(`${pair.label}: ${fmtSeconds(many.value)} s (${many.cpuS.toFixed(1)} CPU-s)`);
    logCpuSplit(opts, pair.label, many);
  }
  if (!sizes.skip.has("big")) {
    opts.log(`${pair.label}: (c) one file of ${humanSize(sizes.big)}`);
    const loadBefore = os.loadavg()[0]!;
    const run = () =>
      measureBig(pair, {
        ...common,
        bytes: sizes.big,
        stageDir,
        timeoutMs: 300_000 + (sizes.big / 1e6) * 1000,
      });
    const target = opts.profile ? opts.flags["profile-process"] : undefined;
    const pid = target
      ? [...((await pair.names?.()) ?? new Map<number, string>())].find(([, n]) => n === target)?.[0]
      : undefined;
    if (target && pid === undefined) opts.log(`${pair.label}: no process ${target} to profile`);
    if (pid !== undefined) {
      const dir = path.join(opts.workDir, "profiles");
      await mkdir(dir, { recursive: true });
      big = await profileWhile(pid, path.join(dir, `big-${target}.cpuprofile`), run, (m) => opts.log(m));
    } else big = await run();
    opts.log(
      `${pair.label}: ${fmtSeconds(big.value)} s (${big.cpuS.toFixed(1)} CPU-s; load ${loadBefore.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)})`,
    );
    logCpuSplit(opts, pair.label, big);
  }
  return { label: pair.label, latency, many, big };
}

/** Which process spent the CPU (CPU-s are steadier than wall time on a shared machine). */
function logCpuSplit(opts: BenchOptions, label: string, m: Measured<unknown>): void {
  opts.log(`${label}: CPU-s by process: ${m.cpuBy.map(([n, c]) => `${n} ${c.toFixed(2)}`).join(", ")}`);
}

/** Runs `fn` with its own clean-up steps, run as soon as it ends (not at the end of the benchmark). */
async function scoped<T>(opts: BenchOptions, fn: (o: BenchOptions) => Promise<T>): Promise<T> {
  const steps: (() => unknown)[] = [];
  try {
    return await fn({ ...opts, defer: (f) => void steps.push(f) });
  } finally {
    for (const f of steps.reverse()) {
      try {
        await f();
      } catch (err) {
        opts.log(`clean-up step failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const only = opts.flags.only;
  if (only !== undefined && only !== "syncthing" && only !== "cumulus")
    throw new Error(`--only must be syncthing or cumulus, not "${only}"`);
  const delayRaw = opts.flags["watcher-delay"];
  const watcherDelayS = delayRaw === undefined ? DEFAULT_WATCHER_DELAY_S : Number(delayRaw);
  if (!Number.isInteger(watcherDelayS) || watcherDelayS < 1)
    throw new Error(`--watcher-delay must be a whole number of seconds ≥ 1, not "${delayRaw}"`);
  const sizes = sizesOf(opts);
  // Before the long Syncthing half, not after it.
  if (only !== "syncthing") requireAgent();

  let st: SideResult | null = null;
  let cu: SideResult | null = null;
  if (only !== "cumulus") {
    const dir = path.join(opts.workDir, "syncthing");
    await mkdir(dir, { recursive: true });
    st = await scoped(opts, async (o) =>
      measureSide(await startSyncthing(o, dir, { watcherDelayS }), o, sizes, path.join(dir, "stage")),
    );
  }
  if (only !== "syncthing") {
    const dir = path.join(opts.workDir, "cumulus");
    await mkdir(dir, { recursive: true });
    cu = await scoped(opts, async (o) =>
      measureSide(await startCumulusPair(o, dir), o, sizes, path.join(dir, "stage")),
    );
  }
  return report(sizes, watcherDelayS, cu, st);
}

function report(sizes: Sizes, watcherDelayS: number, cu: SideResult | null, st: SideResult | null): BenchResult {
  const s = (ms: number | undefined) => (ms === undefined ? "—" : fmtSeconds(ms));
  const ratio = (c: number | undefined, b: number | undefined) =>
    c === undefined || b === undefined ? "—" : `${(c / b).toFixed(2)}×`;
  const verdict = (ok: boolean | null) => (ok === null ? "—" : ok ? "OK" : "MISS");
  const p = (r: SideResult | null, q: number) => (r?.latency ? percentile(r.latency.value, q) : undefined);
  const cu50 = p(cu, 50);
  const st50 = p(st, 50);
  const both = cu !== null && st !== null;
  const latencyOk = cu50 === undefined ? null : cu50 < 1000 && (st50 === undefined || cu50 <= 0.25 * st50);
  const manyOk = both && cu.many && st.many ? cu.many.value < st.many.value : null;
  const bigOk = both && cu.big && st.big ? cu.big.value <= 1.2 * st.big.value : null;
  const cuName = cu?.label ?? "Cumulus";
  const stName = st?.label ?? "Syncthing";
  const main: Table = {
    headers: ["Measurement", `${cuName} s`, `${stName} s`, "Cumulus / Syncthing", "Target", "Result"],
    rows: [
      ["(a) latency p50, 1 KiB", s(cu50), s(st50), ratio(cu50, st50), "< 1 s and ≤ 0.25×", verdict(latencyOk)],
      ["(a) latency p95", s(p(cu, 95)), s(p(st, 95)), ratio(p(cu, 95), p(st, 95)), "", ""],
      [
        `(b) ${sizes.manyFiles.toLocaleString("en-US")} × 4 KiB`,
        s(cu?.many?.value),
        s(st?.many?.value),
        ratio(cu?.many?.value, st?.many?.value),
        "< 1×",
        verdict(manyOk),
      ],
      [
        `(c) one ${humanSize(sizes.big)} file`,
        s(cu?.big?.value),
        s(st?.big?.value),
        ratio(cu?.big?.value, st?.big?.value),
        "≤ 1.2×",
        verdict(bigOk),
      ],
    ],
  };
  const rate = (r: SideResult | null) => (r?.big ? `${fmtRate(mbps(sizes.big, r.big.value))} MB/s` : "—");
  const filesPerS = (r: SideResult | null) => (r?.many ? (sizes.manyFiles / (r.many.value / 1000)).toFixed(0) : "—");
  const cpu = (m: Measured<unknown> | null | undefined) => (m ? m.cpuS.toFixed(1) : "—");
  const detail: Table = {
    headers: ["", cuName, stName],
    rows: [
      ["(a) latency min / max, s", minMax(cu), minMax(st)],
      ["(a) CPU s", cpu(cu?.latency), cpu(st?.latency)],
      ["(b) files/s", filesPerS(cu), filesPerS(st)],
      ["(b) CPU s", cpu(cu?.many), cpu(st?.many)],
      ["(c) MB/s", rate(cu), rate(st)],
      ["(c) CPU s", cpu(cu?.big), cpu(st?.big)],
    ],
  };
  const notes = [
    `Syncthing's watcher gathers events for \`fsWatcherDelayS\` = ${watcherDelayS} s before it scans${watcherDelayS === DEFAULT_WATCHER_DELAY_S ? " (its default)" : ""}: that dominates its latency.`,
    "Cumulus CPU seconds include both agents and the whole cluster (control plane, worker, storage nodes); Syncthing's are its two daemons.",
  ];
  if (!cu) notes.push("Cumulus was not run (`--only syncthing`).");
  if (!st) notes.push("Syncthing was not run (`--only cumulus`): no ratios.");
  if (sizes.skip.size > 0) notes.push(`Not measured (\`--skip\`): ${[...sizes.skip].join(", ")}.`);
  const misses = [latencyOk, manyOk, bigOk].filter((x) => x === false).length;
  return {
    headline: `sync latency, ${sizes.manyFiles} small files, ${humanSize(sizes.big)}: Cumulus vs Syncthing${
      both ? (misses ? ` (${misses} target(s) missed)` : " (all targets met)") : ""
    }`,
    tables: [
      { title: "Cumulus vs Syncthing (same run, same disk)", table: main },
      { title: "Details", table: detail },
    ],
    notes,
    history: {
      "Latency p50 Cumulus s": s(cu50),
      "Latency p50 Syncthing s": s(st50),
      "Small files ratio": ratio(cu?.many?.value, st?.many?.value),
      "Big file ratio": ratio(cu?.big?.value, st?.big?.value),
    },
  };
}

function minMax(r: SideResult | null): string {
  if (!r?.latency) return "—";
  return `${fmtSeconds(Math.min(...r.latency.value))} / ${fmtSeconds(Math.max(...r.latency.value))}`;
}
