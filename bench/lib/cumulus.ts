// A real cluster in a box (the e2e fixture) and the `cumulus` CLI run as a user runs it:
// its own process, `--json`, a config dir of its own.
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { TestCluster, repoRoot } from "../../e2e/fixtures/cluster.ts";
import {
  exec,
  processCpuSeconds,
  sleep,
  trackProcess,
  untrackProcess,
  type BenchOptions,
  type ExecResult,
} from "./harness.ts";

export const CLI = path.join(repoRoot, "packages", "cli", "bin", "cumulus.js");

/** Throws with what is missing when the CLI or the SDK is not (yet) in the repository. */
export function requireCli(): void {
  const need = [
    CLI,
    path.join(repoRoot, "packages/cli/src/main.ts"),
    path.join(repoRoot, "packages/client/src/node/upload-file.ts"),
  ];
  const missing = need.filter((p) => !existsSync(p)).map((p) => path.relative(repoRoot, p));
  if (missing.length) throw new Error(`the Cumulus CLI is not ready: missing ${missing.join(", ")}`);
}

export interface ClusterProcessInfo {
  role: string;
  name: string;
  pid: number;
}

export class BenchCluster {
  readonly cluster: TestCluster;
  readonly configDir: string;
  private readonly opts: BenchOptions;
  private readonly profileDir: string | null;

  private constructor(cluster: TestCluster, configDir: string, opts: BenchOptions, profileDir: string | null) {
    this.cluster = cluster;
    this.configDir = configDir;
    this.opts = opts;
    this.profileDir = profileDir;
  }

  /**
   * Starts a cluster whose data dir is under `opts.workDir` (the disk being measured) and
   * registers its shutdown with `opts.defer`. With `--profile`, `cli(…, { profile: true })`
   * writes CPU profiles into `workDir/profiles/cli`.
   */
  static async start(opts: BenchOptions, env: NodeJS.ProcessEnv = {}): Promise<BenchCluster> {
    // The box gives its children a clean environment (no NODE_OPTIONS): servers are
    // profiled through their inspector instead (lib/inspect.ts).
    const profileDir = opts.profile ? path.join(opts.workDir, "profiles") : null;
    const extra: NodeJS.ProcessEnv = { CUMULUS_LOG_LEVEL: "warn", ...env };
    await waitForWebBuild(opts);
    // TestCluster puts its data dir in os.tmpdir(): point that at the work dir.
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = opts.workDir;
    let cluster: TestCluster;
    try {
      cluster = await TestCluster.create(extra);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    let boxPid: number | null = null;
    opts.defer(async () => {
      opts.log("stopping the cluster");
      // --keep: stop it but leave its data dir (logs, chunks) for a look afterwards.
      if (opts.keep) await cluster.stop();
      else await cluster.destroy();
      if (boxPid !== null) untrackProcess(boxPid);
    });
    opts.log(`starting a cluster in a box (PostgreSQL, control plane, worker, 3 storage nodes) in ${cluster.dataDir}`);
    const started = cluster.start();
    const onAbort = () => void cluster.stop().catch(() => undefined);
    opts.signal.addEventListener("abort", onAbort, { once: true });
    try {
      await started;
    } catch (err) {
      if (opts.signal.aborted) throw err;
      throw new Error(`${(err as Error).message.trimEnd()}${await logTails(cluster.dataDir)}`, { cause: err });
    } finally {
      opts.signal.removeEventListener("abort", onAbort);
    }
    opts.signal.throwIfAborted();
    // The box is in our process group (a terminal Ctrl-C reaches it too); if we exit
    // without stopping it, it gets the SIGINT it would have got.
    const file = await cluster.clusterFile();
    boxPid = file.boxPid;
    trackProcess(boxPid, "SIGINT");
    const configDir = path.join(opts.workDir, "cli-config");
    await mkdir(configDir, { recursive: true });
    if (profileDir) await mkdir(path.join(profileDir, "cli"), { recursive: true });
    return new BenchCluster(cluster, configDir, opts, profileDir);
  }

  get url(): string {
    return this.cluster.url;
  }

  /** Runs `cumulus ARGS` (own process, own process group); throws on a non-zero exit. */
  cli(
    args: string[],
    o: { timeoutMs?: number; cpu?: boolean; profile?: boolean; env?: NodeJS.ProcessEnv } = {},
  ): Promise<ExecResult> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: this.opts.workDir,
      CUMULUS_CONFIG_DIR: this.configDir,
      CUMULUS_DEVICE_NAME: "bench",
      ...o.env,
    };
    if (o.profile && this.profileDir)
      env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${path.join(this.profileDir, "cli")}`;
    return exec(process.execPath, [CLI, ...args], {
      cwd: this.opts.workDir,
      env,
      timeoutMs: o.timeoutMs ?? 120_000,
      signal: this.opts.signal,
      ...(o.cpu ? { cpu: true } : {}),
    });
  }

  async cliJson<T>(args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<T> {
    const r = await this.cli([...args, "--json"], o);
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`cumulus ${args.join(" ")} --json printed no JSON: ${r.stdout.slice(0, 300)}`);
    }
  }

  /** `cumulus login` as the first admin. */
  async login(): Promise<void> {
    const admin = this.cluster.admin;
    if (!admin) throw new Error("the cluster did not print its admin login");
    // The password through the environment: command lines end up in error messages.
    await this.cliJson(["login", "--server", this.url, "--email", admin.email], {
      env: { CUMULUS_PASSWORD: admin.password },
    });
  }

  /** Storage nodes, control plane and worker with their pids (for CPU accounting). */
  async processes(): Promise<ClusterProcessInfo[]> {
    const f = await this.cluster.clusterFile();
    return f.processes.filter((p) => p.pid !== null).map((p) => ({ role: p.role, name: p.name, pid: p.pid! }));
  }

  get profiles(): string | null {
    return this.profileDir;
  }
}

/**
 * `next start` needs a finished production build. On a shared checkout someone may be
 * rebuilding apps/web right now (`.next/lock`, no BUILD_ID yet): wait for it, a while.
 */
async function waitForWebBuild(opts: BenchOptions): Promise<void> {
  const next = path.join(repoRoot, "apps", "web", ".next");
  const ready = () => existsSync(path.join(next, "BUILD_ID")) && !existsSync(path.join(next, "lock"));
  if (ready()) return;
  opts.log("apps/web/.next is being built (lock, or no BUILD_ID): waiting up to 10 min for it");
  const deadline = Date.now() + 600_000;
  while (!ready()) {
    if (Date.now() > deadline) {
      throw new Error("apps/web has no finished production build (run npm run build, or wait for the one in progress)");
    }
    await sleep(2000, opts.signal);
  }
  // The build writes its last files just after BUILD_ID.
  await sleep(5000, opts.signal);
}

/** The last lines of the cluster's logs that mention an error (they go when the data dir does). */
async function logTails(dataDir: string): Promise<string> {
  const dir = path.join(dataDir, "logs");
  const out: string[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, f), "utf8").catch(() => "");
    const lines = text.split("\n").filter((l) => /error|⨯/i.test(l));
    if (lines.length) out.push(`\n--- ${f} (last error lines):\n${lines.slice(-5).join("\n").slice(0, 2000)}`);
  }
  return out.join("");
}

/** CPU seconds used by each process between two snapshots. */
export function cpuSnapshot(procs: ClusterProcessInfo[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of procs) {
    const s = processCpuSeconds(p.pid);
    if (s !== null) m.set(p.pid, s);
  }
  return m;
}

export function cpuDelta(
  procs: ClusterProcessInfo[],
  before: Map<number, number>,
  after: Map<number, number>,
): { role: string; name: string; cpuS: number }[] {
  return procs.map((p) => ({ role: p.role, name: p.name, cpuS: (after.get(p.pid) ?? 0) - (before.get(p.pid) ?? 0) }));
}
