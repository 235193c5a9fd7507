// Measures N small files (default 1000 × 4 KiB) written into agent A's folder until agent B's
// folder has them all: wall time, and CPU seconds of both agent processes (from /proc), with
// the load average. Real cluster in a box, two real `cumulus sync` processes, loopback.
//   node packages/sync-agent/scripts/small-files.ts [N] [SIZE_BYTES]
// Needs apps/web built (cd apps/web && npx next build). Not a test: no assertions on time.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CLI, startAgent, type AgentProc } from "../../../e2e/fixtures/agent.ts";
import { TestCluster, repoRoot } from "../../../e2e/fixtures/cluster.ts";

const N = Number(process.argv[2] ?? 1000);
const SIZE = Number(process.argv[3] ?? 4096);
const TICK = 100; // USER_HZ on Linux

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICK; // utime + stime
}

async function countFiles(dir: string): Promise<number> {
  return (await readdir(dir)).filter((n) => n.startsWith("f")).length;
}

const work = await mkdtemp(path.join(os.tmpdir(), "cumulus-small-files-"));
const configDir = path.join(work, "config");
const dirA = path.join(work, "A");
const dirB = path.join(work, "B");
await mkdir(dirA);
await mkdir(dirB);
const cluster = await TestCluster.create();
let a: AgentProc | null = null;
let b: AgentProc | null = null;
try {
  await cluster.start();
  const r = spawnSync(
    process.execPath,
    [CLI, "login", "--server", cluster.url, "--email", cluster.admin!.email, "--password", cluster.admin!.password],
    { cwd: repoRoot, env: { PATH: process.env.PATH, HOME: work, CUMULUS_CONFIG_DIR: configDir }, encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  a = startAgent({ localDir: dirA, remote: "small", configDir, device: "alpha" });
  b = startAgent({ localDir: dirB, remote: "small", configDir, device: "beta" });
  while (!(await a.api("/api/status")) || !(await b.api("/api/status"))) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const cpuA0 = await cpuSeconds(a.proc.pid!);
  const cpuB0 = await cpuSeconds(b.proc.pid!);
  const load0 = os.loadavg()[0]!;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await writeFile(path.join(dirA, `f${String(i).padStart(5, "0")}.bin`), randomBytes(SIZE));
  const written = performance.now();
  const writtenAt = Date.now();
  // A is done uploading once it is up to date after the files were written.
  let uploaded = 0;
  const upDone = (async () => {
    for (;;) {
      const s = await a!.api<{ state: string; lastSyncedAt: number | null }>("/api/status");
      if (s?.state === "up-to-date" && (s.lastSyncedAt ?? 0) > writtenAt + 1000) return (uploaded = performance.now());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  while ((await countFiles(dirB)) < N) await new Promise((r) => setTimeout(r, 100));
  const t1 = performance.now();
  await upDone;
  const cpuA = (await cpuSeconds(a.proc.pid!)) - cpuA0;
  const cpuB = (await cpuSeconds(b.proc.pid!)) - cpuB0;
  console.log(
    JSON.stringify({
      files: N,
      size: SIZE,
      wallSec: +((t1 - t0) / 1000).toFixed(1),
      writeSec: +((written - t0) / 1000).toFixed(1),
      uploadedSec: +((uploaded - t0) / 1000).toFixed(1),
      cpuUploaderSec: +cpuA.toFixed(1),
      cpuDownloaderSec: +cpuB.toFixed(1),
      loadBefore: +load0.toFixed(1),
      loadAfter: +os.loadavg()[0]!.toFixed(1),
    }),
  );
} finally {
  await a?.stop();
  await b?.stop();
  await cluster.destroy();
  await rm(work, { recursive: true, force: true });
}
