// The baseline of `npm run bench -- sync`: two Debian `syncthing` instances on loopback, each
// with its own home, introduced to each other by device id, sharing one folder, with the
// file-system watcher on and everything that reaches past this machine off.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync, closeSync, existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { freePort } from "../../e2e/fixtures/ports.ts";
import { exec, sleep, stopGroup, trackGroup, untrackGroup, type BenchOptions } from "../lib/harness.ts";
import { groupPids, type SyncPair } from "./measure.ts";

export const SYNCTHING = "/usr/bin/syncthing";
const FOLDER_ID = "cumulus-bench";

export interface SyncthingOptions {
  /** The folder's `fsWatcherDelayS`: how long the watcher gathers events before a scan (Syncthing's default is 10). */
  watcherDelayS: number;
}

interface Instance {
  name: "a" | "b";
  home: string;
  folder: string;
  deviceId: string;
  listenPort: number;
  guiPort: number;
  apiKey: string;
  pid: number | null;
}

/** Throws with the fix when Debian's syncthing is not installed. */
export async function syncthingVersion(): Promise<string> {
  if (!existsSync(SYNCTHING)) throw new Error(`${SYNCTHING} is missing: apt-get install syncthing`);
  const r = await exec(SYNCTHING, ["--version"], { timeoutMs: 30_000 });
  return /v[\d.]+/.exec(r.stdout)?.[0] ?? r.stdout.trim();
}

/**
 * Starts both instances under `dir`, waits until they are connected and idle, and registers
 * their shutdown with `opts.defer`.
 */
export async function startSyncthing(opts: BenchOptions, dir: string, so: SyncthingOptions): Promise<SyncPair> {
  const version = await syncthingVersion();
  const inst: Instance[] = [];
  for (const name of ["a", "b"] as const) {
    const home = path.join(dir, `home-${name}`);
    const folder = path.join(dir, name.toUpperCase());
    // Keys and a device id; the config is ours (below).
    const gen = await exec(SYNCTHING, ["generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"], {
      env: { PATH: process.env.PATH, HOME: home },
      timeoutMs: 60_000,
      signal: opts.signal,
    });
    const deviceId = /Device ID:\s*([A-Z0-9-]{63})/.exec(gen.stdout + gen.stderr)?.[1];
    if (!deviceId) throw new Error(`syncthing generate printed no device id:\n${gen.stdout}${gen.stderr}`);
    // The folder marker: without it Syncthing refuses to sync an existing folder.
    await mkdir(path.join(folder, ".stfolder"), { recursive: true });
    inst.push({
      name,
      home,
      folder,
      deviceId,
      listenPort: await freePort(),
      guiPort: await freePort(),
      apiKey: randomBytes(16).toString("hex"),
      pid: null,
    });
  }
  for (const me of inst) await writeFile(path.join(me.home, "config.xml"), configXml(me, inst, so));
  for (const me of inst) await spawnInstance(opts, me);

  const api = async <T>(me: Instance, route: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${me.guiPort}${route}`, {
      headers: { "X-API-Key": me.apiKey },
      signal: AbortSignal.any([opts.signal, AbortSignal.timeout(10_000)]),
    });
    if (!res.ok) throw new Error(`syncthing ${me.name} ${route}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const until = async (what: string, ms: number, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await ok().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`syncthing: ${what} not within ${Math.round(ms / 1000)} s (logs in ${dir})`);
      await sleep(200, opts.signal);
    }
  };

  opts.log(`syncthing ${version}: waiting until both instances are up and connected`);
  for (const me of inst)
    await until(
      `instance ${me.name} REST API`,
      60_000,
      async () => (await api<{ ping: string }>(me, "/rest/system/ping")).ping === "pong",
    );
  await until("connection between the two instances", 60_000, async () => {
    for (const me of inst) {
      const other = inst.find((o) => o !== me)!;
      const c = await api<{ connections: Record<string, { connected: boolean }> }>(me, "/rest/system/connections");
      if (!c.connections[other.deviceId]?.connected) return false;
    }
    return true;
  });

  const settle = async (signal: AbortSignal) => {
    // Both idle with nothing needed, twice in a row half a second apart (a scan may be about to start).
    let streak = 0;
    const deadline = Date.now() + 600_000;
    while (streak < 2) {
      signal.throwIfAborted();
      let quiet = true;
      for (const me of inst) {
        const s = await api<{ state: string; needTotalItems: number }>(me, `/rest/db/status?folder=${FOLDER_ID}`);
        if (s.state !== "idle" || s.needTotalItems !== 0) quiet = false;
      }
      streak = quiet ? streak + 1 : 0;
      if (Date.now() > deadline) throw new Error("syncthing: the instances did not settle within 10 min");
      await sleep(500, signal);
    }
  };
  await settle(opts.signal);
  return {
    label: `Syncthing ${version}`,
    dirA: inst[0]!.folder,
    dirB: inst[1]!.folder,
    pids: async () => inst.flatMap((i) => (i.pid === null ? [] : groupPids(i.pid))),
    settle,
  };
}

async function spawnInstance(opts: BenchOptions, me: Instance): Promise<void> {
  const logFile = path.join(me.home, "syncthing.log");
  const out = openSync(logFile, "a");
  // Its own process group: the monitor process and the syncthing it runs are counted and stopped together.
  const child = spawn(SYNCTHING, ["serve", `--home=${me.home}`, "--no-browser", "--no-restart", "--no-upgrade"], {
    env: { PATH: process.env.PATH, HOME: me.home, STNORESTART: "1", STNOUPGRADE: "1" },
    stdio: ["ignore", out, out],
    detached: true,
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${SYNCTHING}`);
  me.pid = pid;
  trackGroup(pid);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.once("exit", (code, sig) => {
    me.pid = null;
    untrackGroup(pid);
    if (!stopping) opts.log(`syncthing ${me.name} exited early (${sig ?? code}); log: ${logFile}`);
  });
  let stopping = false;
  opts.defer(async () => {
    stopping = true;
    if (me.pid === null) return;
    await stopGroup(pid, "SIGTERM", exited);
  });
}

function configXml(me: Instance, all: Instance[], so: SyncthingOptions): string {
  const device = (
    d: Instance,
  ) => `    <device id="${d.deviceId}" name="${d.name}" compression="metadata" introducer="false">
        <address>tcp://127.0.0.1:${d.listenPort}</address>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>`;
  return `<configuration version="36">
    <folder id="${FOLDER_ID}" label="bench" path="${me.folder}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="${so.watcherDelayS}" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
${all.map((d) => `        <device id="${d.deviceId}" introducedBy=""></device>`).join("\n")}
        <minDiskFree unit="%">1</minDiskFree>
    </folder>
${all.map(device).join("\n")}
    <gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:${me.guiPort}</address>
        <apikey>${me.apiKey}</apikey>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:${me.listenPort}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <startBrowser>false</startBrowser>
        <urAccepted>-1</urAccepted>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <setLowPriority>false</setLowPriority>
    </options>
</configuration>
`;
}
