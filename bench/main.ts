// `npm run bench [-- NAME... [options]]`: runs benchmarks, prints their tables and records
// them in docs/benchmarks.md. A benchmark is `bench/<name>.ts` exporting a `Benchmark`
// (summary, method, run); helpers live in `bench/lib/`. See bench/README.md.
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  killTrackedGroupsSync,
  parseSize,
  renderText,
  type BenchOptions,
  type BenchResult,
  type Benchmark,
} from "./lib/harness.ts";
import { isTmpfs, machineInfo } from "./lib/machine.ts";
import { recordRun } from "./lib/record.ts";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(benchDir, "..");
const docsFile = path.join(repoRoot, "docs", "benchmarks.md");

const USAGE = `usage: npm run bench -- NAME... [--size 1G] [--quick] [--no-record | --record] [--keep] [--profile]

  --size SIZE   data size (K, M, G; binary units), default per benchmark
  --quick       small sizes: a smoke run of about a minute (not recorded unless --record)
  --no-record   do not write docs/benchmarks.md
  --record      record a --quick or --profile run too
  --keep        keep the work directory (temp files, cluster data, profiles)
  --profile     write V8 CPU profiles of the processes under test (implies --keep; not recorded)

A benchmark may take options of its own (\`--flag VALUE\`), listed below with it.`;

interface Args {
  names: string[];
  size: number | null;
  quick: boolean;
  record: boolean | null;
  keep: boolean;
  profile: boolean;
  help: boolean;
  /** Options not known here (\`--only syncthing\`): each takes a value; a benchmark must declare it. */
  flags: Record<string, string>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    names: [],
    size: null,
    quick: false,
    record: null,
    keep: false,
    profile: false,
    help: false,
    flags: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith("--") && arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
    switch (flag) {
      case "--size": {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new Error("--size needs a value, e.g. --size 1G");
        a.size = parseSize(v);
        break;
      }
      case "--quick":
        a.quick = true;
        break;
      case "--no-record":
        a.record = false;
        break;
      case "--record":
        a.record = true;
        break;
      case "--keep":
        a.keep = true;
        break;
      case "--profile":
        a.profile = true;
        a.keep = true;
        break;
      case "-h":
      case "--help":
        a.help = true;
        break;
      default:
        if (flag.startsWith("--") && flag.length > 2) {
          // Checked against the benchmarks' own \`flags\` once they are loaded.
          const v = inline ?? argv[++i];
          if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
          a.flags[flag.slice(2)] = v;
        } else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}`);
        else a.names.push(arg);
    }
  }
  return a;
}

/** Every `bench/<name>.ts` except this file. */
async function knownNames(): Promise<string[]> {
  return (await readdir(benchDir))
    .filter((f) => f.endsWith(".ts") && f !== "main.ts" && !f.endsWith(".test.ts") && !f.endsWith(".d.ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function load(name: string): Promise<Benchmark> {
  const mod = (await import(pathToFileURL(path.join(benchDir, `${name}.ts`)).href)) as Partial<Benchmark> & {
    default?: Benchmark;
  };
  const b = (mod.default ?? mod) as Partial<Benchmark>;
  if (typeof b.run !== "function") throw new Error(`bench/${name}.ts does not export run(opts)`);
  return {
    summary: b.summary ?? "",
    method: b.method ?? "",
    ...(b.timeoutMs ? { timeoutMs: b.timeoutMs } : {}),
    ...(b.flags ? { flags: b.flags } : {}),
    run: b.run,
  };
}

async function listBenchmarks(names: string[]): Promise<string> {
  const lines = await Promise.all(
    names.map(async (n) => {
      try {
        const b = await load(n);
        const flags = Object.entries(b.flags ?? {}).map(([f, help]) => `\n  ${"".padEnd(12)}   --${f}: ${help}`);
        return `  ${n.padEnd(12)} ${b.summary}${flags.join("")}`;
      } catch (err) {
        return `  ${n.padEnd(12)} (cannot load: ${err instanceof Error ? err.message.split("\n")[0] : String(err)})`;
      }
    }),
  );
  return `benchmarks:\n${lines.join("\n")}`;
}

/** A temp dir on the repository's file system (never tmpfs): disk numbers must mean the disk. */
async function makeWorkDir(name: string): Promise<string> {
  const dir = await makeTempDir(name);
  // Others must be able to enter it: the embedded PostgreSQL runs as user postgres.
  await chmod(dir, 0o755);
  return dir;
}

async function makeTempDir(name: string): Promise<string> {
  const repoDev = (await stat(repoRoot)).dev;
  const tmp = os.tmpdir();
  const tmpOk = await stat(tmp)
    .then((s) => s.dev === repoDev && !isTmpfs(tmp))
    .catch(() => false);
  if (tmpOk) return mkdtemp(path.join(tmp, `cumulus-bench-${name}-`));
  // bench/.work is git-ignored by bench/.gitignore.
  const base = path.join(benchDir, ".work");
  await mkdir(base, { recursive: true });
  if (isTmpfs(base)) throw new Error(`${base} is on tmpfs: cannot measure the disk`);
  return mkdtemp(path.join(base, `${name}-`));
}

let interrupted = 0;
let current: AbortController | null = null;

process.on("SIGINT", () => {
  interrupted++;
  if (interrupted > 1) {
    process.stderr.write("bench: second Ctrl-C: killing everything now\n");
    killTrackedGroupsSync();
    process.exit(130);
  }
  process.stderr.write("bench: interrupted, cleaning up (Ctrl-C again to kill at once)\n");
  current?.abort(new Error("interrupted"));
});
process.on("SIGTERM", () => {
  interrupted++;
  current?.abort(new Error("terminated"));
});
process.on("exit", () => killTrackedGroupsSync());

async function runOne(name: string, bench: Benchmark, args: Args, command: string): Promise<boolean> {
  const workDir = await makeWorkDir(name);
  const ac = new AbortController();
  current = ac;
  const cleanups: (() => unknown)[] = [];
  const log = (msg: string) => process.stderr.write(`[${name}] ${msg}\n`);
  const opts: BenchOptions = {
    size: args.size,
    quick: args.quick,
    keep: args.keep,
    profile: args.profile,
    flags: Object.fromEntries(Object.entries(args.flags).filter(([f]) => f in (bench.flags ?? {}))),
    workDir,
    signal: ac.signal,
    log,
    defer: (fn) => void cleanups.push(fn),
  };
  const limit =
    bench.timeoutMs?.({ size: args.size, quick: args.quick, flags: opts.flags }) ?? (args.quick ? 180_000 : 600_000);
  const timer = setTimeout(() => ac.abort(new Error(`time limit of ${Math.round(limit / 1000)} s reached`)), limit);
  const date = new Date();
  const machine = machineInfo(workDir);
  log(`work directory ${workDir} (${machine.disk}); time limit ${Math.round(limit / 1000)} s`);
  let result: BenchResult | null = null;
  try {
    result = await bench.run(opts);
  } catch (err) {
    const why = ac.signal.aborted ? ac.signal.reason : err;
    process.stderr.write(`bench: ${name} failed: ${why instanceof Error ? why.message : String(why)}\n`);
    if (process.env.CUMULUS_DEBUG === "1" && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  } finally {
    clearTimeout(timer);
    for (const fn of cleanups.reverse()) {
      try {
        await Promise.race([fn(), new Promise((r) => setTimeout(r, 60_000).unref())]);
      } catch (err) {
        log(`clean-up step failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (args.keep) log(`kept ${workDir}`);
    else await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    current = null;
  }
  if (!result) return false;

  const out = [`\n== ${name}: ${result.headline}`];
  for (const t of result.tables) out.push("", t.title, renderText(t.table));
  if (result.notes.length) out.push("", ...result.notes.map((n) => `* ${n.replace(/`/g, "")}`));
  process.stdout.write(out.join("\n") + "\n\n");

  const record = args.record ?? (!args.quick && !args.profile);
  if (record) {
    const loadEnd = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    await recordRun(docsFile, { name, title: name, method: bench.method, command, date, machine, result, loadEnd });
    log(`recorded in ${path.relative(repoRoot, docsFile)}`);
  } else {
    log(
      `not recorded (${args.record === false ? "--no-record" : "--quick and --profile runs are recorded only with --record"})`,
    );
  }
  return true;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const known = await knownNames();
  if (args.help || args.names.length === 0) {
    process.stdout.write(`${USAGE}\n\n${await listBenchmarks(known)}\n`);
    return args.help ? 0 : args.names.length === 0 ? 0 : 2;
  }
  const unknown = args.names.filter((n) => !known.includes(n));
  if (unknown.length) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(", ")} (known: ${known.join(", ")})\n`);
    return 2;
  }
  const command = `npm run bench -- ${argv.join(" ")}`;
  let failed = 0;
  const loaded = new Map<string, Benchmark>();
  for (const name of args.names) {
    try {
      loaded.set(name, await load(name));
    } catch (err) {
      process.stderr.write(`bench: cannot load bench/${name}.ts: ${(err as Error).message}\n`);
      failed++;
    }
  }
  const undeclared = Object.keys(args.flags).filter((f) => ![...loaded.values()].some((b) => f in (b.flags ?? {})));
  if (undeclared.length) {
    process.stderr.write(
      `bench: unknown option ${undeclared.map((f) => `--${f}`).join(", ")} (no benchmark named here takes it)\n${USAGE}\n`,
    );
    return 2;
  }
  for (const [name, bench] of loaded) {
    if (interrupted) break;
    if (!(await runOne(name, bench, args, command))) failed++;
  }
  if (interrupted) return 130;
  return failed ? 1 : 0;
}

process.exitCode = await main();
