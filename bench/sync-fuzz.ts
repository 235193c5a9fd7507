// `npm run bench -- sync-fuzz`: a long run of the sync planner's CanopyCheck-style fuzzer
// (the same cases `npm test` runs a few thousand of), with its rate and every failure's
// seed, shrunk to a minimal edit list.
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { caseSeed, formatFailure, runFuzz, type FuzzFailure } from "@cumulus/sync-engine/testing/fuzz";
import type { BenchOptions, BenchResult, Table } from "./lib/harness.ts";

export const summary =
  "CanopyCheck fuzzer of the sync planner: 100k cases of ≤ 8 edits and 20k of ≤ 30, failures shrunk";

export const method = `A long run of the sync planner's randomized tests (\`runFuzz\` of
\`@cumulus/sync-engine/testing/fuzz\`, see \`packages/sync-engine/README.md\`): each case starts
from a random synced tree, applies random edits on both sides (creates, edits, atomic saves,
deletes, moves, renames into ignored names, swaps, crossed folder moves, twin creates, Finder
junk, files still being written, edits during sync, crashes mid-plan, case-insensitive disks,
selective sync, remote trees without hashes), then plans and executes against the in-memory
server and disk to a fixed point and checks termination, no orphans, convergence and no lost
content. Two phases: N cases of at most 8 edits (default 100,000) and N/5 of at most 30
(default 20,000). Cases run in batches of ${1000} in this process (one core); cases/s is over
wall time, cases per CPU-second over the process's own CPU time, which moves much less on a
loaded machine. Every failure is shrunk (delta debugging over the edits, then simpler
settings) and listed with the seed that replays it alone:
\`runCase(genCase(SEED, MAX_EDITS), { trace: true })\`.

Options: \`--seed N\` (default: a fresh one, printed and recorded), \`--cases N\` (cases of the
first phase; the second runs N/5). Target: no failure.`;

export const flags = {
  seed: "run seed (default: a fresh one, printed)",
  cases: "cases of at most 8 edits (default 100000, --quick 5000); N/5 more of at most 30",
};

const BATCH = 1000;
/** Shrinking a failure costs many replays: stop collecting after this many. */
const MAX_FAILURES = 5;

interface Phase {
  maxEdits: number;
  cases: number;
}

function phases(opts: Pick<BenchOptions, "quick" | "flags">): Phase[] {
  const n = opts.flags.cases !== undefined ? positiveInt("--cases", opts.flags.cases) : opts.quick ? 5000 : 100_000;
  return [
    { maxEdits: 8, cases: n },
    { maxEdits: 30, cases: Math.max(1, Math.round(n / 5)) },
  ];
}

function positiveInt(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v)))
    throw new Error(`${flag} must be a positive integer, not "${v}"`);
  return Number(v);
}

export function timeoutMs(opts: Pick<BenchOptions, "size" | "quick" | "flags">): number {
  // Measured about 0.3 ms of CPU per case of either kind on a lightly loaded core;
  // leave room for a machine loaded 10× and for shrinking failures.
  let small: Phase, large: Phase;
  try {
    [small, large] = phases(opts) as [Phase, Phase];
  } catch {
    return 60_000; // run() reports the bad option
  }
  return 120_000 + (small.cases + large.cases * 4) * 20;
}

interface PhaseResult {
  phase: Phase;
  cases: number;
  wallMs: number;
  cpuS: number;
  rounds: { total: number; max: number };
  ops: number;
  conflicts: number;
  failures: FuzzFailure[];
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const seed =
    opts.flags.seed !== undefined
      ? Number(positiveIntOrZero("--seed", opts.flags.seed))
      : Math.floor(Math.random() * 2 ** 31);
  const plan = phases(opts);
  opts.log(`run seed ${seed} (replay this run with --seed ${seed})`);

  const results: PhaseResult[] = [];
  let failuresLeft = MAX_FAILURES;
  for (const [p, phase] of plan.entries()) {
    const r: PhaseResult = {
      phase,
      cases: 0,
      wallMs: 0,
      cpuS: 0,
      rounds: { total: 0, max: 0 },
      ops: 0,
      conflicts: 0,
      failures: [],
    };
    results.push(r);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let lastLog = t0;
    for (let b = 0; r.cases < phase.cases && failuresLeft > 0; b++) {
      // One batch is synchronous: yield between batches so Ctrl-C and the time limit get through.
      await yieldToLoop();
      opts.signal.throwIfAborted();
      // Each batch has its own run seed; a failure's own seed replays it alone.
      const res = runFuzz({
        seed: caseSeed(seed ^ (p + 1), b),
        cases: Math.min(BATCH, phase.cases - r.cases),
        maxEdits: phase.maxEdits,
        shrink: true,
        maxFailures: failuresLeft,
      });
      r.cases += res.cases;
      r.rounds.total += res.rounds.total;
      r.rounds.max = Math.max(r.rounds.max, res.rounds.max);
      r.ops += res.ops;
      r.conflicts += res.conflicts;
      for (const f of res.failures) {
        r.failures.push(f);
        failuresLeft--;
        opts.log(`FAILURE (≤ ${phase.maxEdits} edits)\n${formatFailure(f)}`);
      }
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        opts.log(`≤ ${phase.maxEdits} edits: ${r.cases} of ${phase.cases} cases, ${r.failures.length} failure(s)`);
      }
    }
    r.wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    r.cpuS = (cpu.user + cpu.system) / 1e6;
    opts.log(
      `≤ ${phase.maxEdits} edits: ${r.cases} cases in ${(r.wallMs / 1000).toFixed(1)} s (${r.cpuS.toFixed(1)} CPU s), ${r.failures.length} failure(s)`,
    );
  }

  const totalCases = results.reduce((s, r) => s + r.cases, 0);
  const totalCpu = results.reduce((s, r) => s + r.cpuS, 0);
  const failures = results.flatMap((r) => r.failures.map((f) => ({ r, f })));
  const stoppedEarly = results.some((r) => r.cases < r.phase.cases);

  const summaryTable: Table = {
    headers: [
      "Edits per case",
      "Cases",
      "Wall s",
      "CPU s",
      "Cases/s",
      "Cases per CPU s",
      "Rounds mean",
      "Rounds max",
      "Operations",
      "Conflicted copies",
      "Failures",
    ],
    rows: results.map((r) => [
      `≤ ${r.phase.maxEdits}`,
      String(r.cases),
      (r.wallMs / 1000).toFixed(1),
      r.cpuS.toFixed(1),
      (r.cases / (r.wallMs / 1000)).toFixed(0),
      (r.cases / r.cpuS).toFixed(0),
      (r.rounds.total / Math.max(1, r.cases)).toFixed(2),
      String(r.rounds.max),
      String(r.ops),
      String(r.conflicts),
      String(r.failures.length),
    ]),
  };
  const tables = [{ title: `Planner fuzzing, run seed ${seed}`, table: summaryTable }];
  if (failures.length) {
    tables.push({
      title: "Failures (shrunk; replay one with runCase(genCase(SEED, MAX_EDITS), { trace: true }))",
      table: {
        headers: ["Seed", "Max edits", "Minimal edits", "Failure"],
        rows: failures.map(({ f }) => [
          String(f.seed),
          String(f.maxEdits),
          String(f.edits.length),
          f.message.split("\n")[0]!.slice(0, 160),
        ]),
        align: ["right", "right", "right", "left"],
      },
    });
  }
  const notes = [
    `Run seed ${seed}: \`npm run bench -- sync-fuzz --seed ${seed}${opts.flags.cases ? ` --cases ${opts.flags.cases}` : ""}\` repeats exactly these cases.`,
    "Single-threaded, in the bench process; CPU seconds are the process's own (user + system).",
  ];
  if (stoppedEarly) notes.push(`Stopped after ${MAX_FAILURES} failures: later cases did not run.`);
  for (const { f } of failures.slice(0, 3))
    notes.push(
      `Seed ${f.seed} (≤ ${f.maxEdits} edits): ${f.message.split("\n")[0]} — minimal edits: ${f.edits.join("; ")}`,
    );
  return {
    headline: `${totalCases} planner cases, ${failures.length === 0 ? "no failure" : `${failures.length} FAILURE(S)`}`,
    tables,
    notes,
    history: {
      "Run seed": String(seed),
      Cases: String(totalCases),
      "Cases per CPU s": (totalCases / totalCpu).toFixed(0),
      "Conflicted copies": String(results.reduce((s, r) => s + r.conflicts, 0)),
      Failures: String(failures.length),
    },
  };
}

function positiveIntOrZero(flag: string, v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new Error(`${flag} must be an integer ≥ 0, not "${v}"`);
  return Number(v);
}
