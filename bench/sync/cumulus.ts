// The Cumulus side of `npm run bench -- sync`: a fresh cluster in a box and two
// `cumulus sync` agents, started from the CLI as a user would, on separate folders bound to
// the same remote folder.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { repoRoot } from "../../e2e/fixtures/cluster.ts";
import { ZAgentStatus, type AgentStatus } from "../../packages/protocol/src/agent.ts";
import { BenchCluster, CLI, requireCli } from "../lib/cumulus.ts";
import { sleep, stopGroup, trackGroup, untrackGroup, type BenchOptions } from "../lib/harness.ts";
import { groupPids, type SyncPair } from "./measure.ts";

export const REMOTE = "/bench-sync";

/** Throws with what to do when the sync agent is not in this checkout yet. */
export function requireAgent(): void {
  requireCli();
  const agent = path.join(repoRoot, "packages", "sync-agent", "src", "agent.ts");
  if (!existsSync(agent))
    throw new Error(
      `the sync agent is not in this checkout (${path.relative(repoRoot, agent)} is missing): run with --only syncthing`,
    );
}

interface Agent {
  name: string;
  folder: string;
  stateDir: string;
  pid: number | null;
  exited: Promise<void>;
}

export async function startCumulusPair(opts: BenchOptions, dir: string): Promise<SyncPair> {
  requireAgent();
  const bc = await BenchCluster.start(opts);
  await bc.login();
  await bc.cli(["mkdir", "-p", REMOTE]);
  const agents: Agent[] = [];
  for (const name of ["a", "b"]) {
    const folder = path.join(dir, name.toUpperCase());
    // State outside the folder: the folders hold exactly what is synced.
    const stateDir = path.join(dir, `state-${name}`);
    await mkdir(folder, { recursive: true });
    await mkdir(stateDir, { recursive: true });
    agents.push(startAgent(opts, bc, name, folder, stateDir));
  }
  const status = async (a: Agent): Promise<AgentStatus> => {
    const { port, secret } = JSON.parse(await readFile(path.join(a.stateDir, "agent.json"), "utf8")) as {
      port: number;
      secret: string;
    };
    const res = await fetch(`http://127.0.0.1:${port}/api/status`, {
      headers: { authorization: `Bearer ${secret}` },
      signal: AbortSignal.any([opts.signal, AbortSignal.timeout(10_000)]),
    });
    if (!res.ok) throw new Error(`agent ${a.name} /api/status: HTTP ${res.status}`);
    return ZAgentStatus.parse(await res.json());
  };
  const settle = async (signal: AbortSignal) => {
    // Both up to date with nothing pending, twice in a row half a second apart.
    let streak = 0;
    let last = "";
    const deadline = Date.now() + 600_000;
    while (streak < 2) {
      signal.throwIfAborted();
      let quiet = true;
      for (const a of agents) {
        if (a.pid === null) throw new Error(`agent ${a.name} is not running (log: ${a.stateDir}/agent.log)`);
        const s = await status(a).catch((err: Error) => ({ state: "unreachable", message: err.message }) as const);
        if (s.state !== "up-to-date" || ("progress" in s && s.progress.filesPending > 0)) {
          quiet = false;
          last = `${a.name}: ${s.state} (${s.message})`;
        }
      }
      streak = quiet ? streak + 1 : 0;
      if (Date.now() > deadline) throw new Error(`the agents did not settle within 10 min; last: ${last}`);
      await sleep(500, signal);
    }
  };
  opts.log("cumulus: waiting until both agents are up to date");
  await settle(opts.signal);
  const cluster = await bc.processes();
  return {
    label: "Cumulus",
    dirA: agents[0]!.folder,
    dirB: agents[1]!.folder,
    pids: async () => [
      ...agents.flatMap((a) => (a.pid === null ? [] : groupPids(a.pid))),
      ...cluster.map((p) => p.pid),
    ],
    names: async () =>
      new Map([
        ...agents.flatMap((a) => (a.pid === null ? [] : groupPids(a.pid).map((p) => [p, `agent ${a.name}`] as const))),
        ...cluster.map((p) => [p.pid, p.name] as const),
      ]),
    settle,
  };
}

function startAgent(opts: BenchOptions, bc: BenchCluster, name: string, folder: string, stateDir: string): Agent {
  const log = openSync(path.join(stateDir, "agent.log"), "a");
  // --profile: a V8 CPU profile of each agent, written when it exits (Ctrl-C below).
  const prof = opts.profile
    ? [`--cpu-prof`, `--cpu-prof-dir=${path.join(opts.workDir, "profiles", `agent-${name}`)}`]
    : [];
  const child = spawn(
    process.execPath,
    [...prof, CLI, "sync", folder, "--remote", REMOTE, "--state-dir", stateDir, "--device", `bench-${name}`],
    {
      cwd: opts.workDir,
      // Credentials from the `cumulus login` config, as for a person at a terminal.
      env: { PATH: process.env.PATH, HOME: opts.workDir, CUMULUS_CONFIG_DIR: bc.configDir },
      stdio: ["ignore", log, log],
      detached: true,
    },
  );
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error("cannot start cumulus sync");
  trackGroup(pid);
  let stopping = false;
  const agent: Agent = {
    name,
    folder,
    stateDir,
    pid,
    exited: new Promise((resolve) => child.once("exit", () => resolve())),
  };
  child.once("exit", (code, sig) => {
    agent.pid = null;
    untrackGroup(pid);
    if (!stopping) opts.log(`cumulus sync (agent ${name}) exited early (${sig ?? code}); log: ${stateDir}/agent.log`);
  });
  opts.defer(async () => {
    stopping = true;
    if (agent.pid === null) return;
    // Ctrl-C, as a person stops it (the CLI handles SIGINT).
    await stopGroup(pid, "SIGINT", agent.exited);
  });
  return agent;
}
