// `npm run bench -- smallfiles`: what the small-file path costs the cluster per file. N files
// of 4 KiB go up through the SDK the way the sync agent sends them (BatchingClient, one
// shared chunk transport, 64 uploads side by side) and come back down (16 side by side);
// files/s and CPU-ms per file by process, in one run.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BatchingClient } from "../packages/client/src/batching.ts";
import { uploadFile, openTransport } from "../packages/client/src/node/upload-file.ts";
import { downloadFile } from "../packages/client/src/node/download-file.ts";
import { runPool } from "../packages/client/src/pool.ts";
import { BenchCluster, cpuDelta, cpuSnapshot } from "./lib/cumulus.ts";
import { profileWhile } from "./lib/inspect.ts";
import type { BenchOptions, BenchResult, Table } from "./lib/harness.ts";

export const summary = "small files: N × 4 KiB up and down through the SDK, files/s and CPU-ms per file by process";

export const method = `A fresh cluster in a box (control plane, worker, 3 storage nodes; replica count
the cluster default). N files of 4 KiB of random bytes (default 2000, \`--files N\`; 500 with
\`--quick\`) are written to a local folder (untimed), then uploaded into a fresh remote folder
through the SDK exactly as the sync agent does it: one \`BatchingClient\` (begin/commit/plan
calls that overlap travel as batch requests), one shared HTTP chunk transport, \`uploadFile\`
for 64 files side by side. Then every file is downloaded with \`downloadFile\` (16 side by
side) and compared with the original. CPU is each process's user + system time over each
phase (\`/proc/PID/stat\`; the SDK is this process); PostgreSQL is not counted.

Before the batch routes worked in bulk and small chunks went to nodes in batches (commit
7c44ace, \`--quick\`, load average 15–22): 500 files up at 11 files/s with 30.8 CPU-ms per file
(control plane 18.0), down at 64 files/s with 7.4 CPU-ms per file (control plane 3.6).

The storage nodes' per-chunk work on upload (2026-11-22, issue #6): a chunk batch's chunk
used to cost a node about eleven thread-pool round trips and their promises (lstat for the
capacity check, open, writev through the streaming verifier, fsync, close, lstat, rename,
open + fsync + close of its directory, lstat for the verified stamp) plus a WebCrypto
receipt signature (another thread-pool job). Now the bytes, already in memory, are hashed
before anything is written (\`DiskChunkStore.stageBytes\`), checked against the capacity
(that lstat stays asynchronous: on a big store the chunk's directory may not be cached),
written with synchronous open(O_CREAT|O_EXCL) + write on the main thread (page-cache work of microseconds; only for
chunks up to 64 KiB), and committed with one fdatasync each (all issued at once, so the
journal groups them; fdatasync is enough for a new file: it flushes the data and the size
and block allocation needed to read it back, and on ext4 that is a journal commit of the
whole inode), a synchronous rename when nothing else holds the chunk's id, the fd's own
stat for the verified stamp, and one directory fsync per touched directory whose open and
close are synchronous (the lookup was just cached by the rename). Receipts are signed with
\`node:crypto\` synchronously (the same JWT as jose, byte for byte). Same guarantees: a chunk
counts only after its hash matched, its data was fdatasynced, it was renamed into place and
its directory fsynced; a crash before that leaves only a temp file, dropped at start.
In-process, \`node bench/smallfiles-store/store-micro.ts 2000\` (stage + commit only, 64 per
batch, interleaved) measured 0.39–0.55 CPU-ms per chunk (user 0.12–0.17) through \`stageBytes\` against 0.47–0.89 (user
0.21–0.34) through \`stage\`, 5 pairs at load 15–28, with a synchronous lstat for the
capacity check; with the asynchronous one kept, 0.36–0.96 (user 0.16–0.22) against
0.56–1.15 (user 0.22–0.35), 4 pairs at load 21–25 (this process only; the old path's
directory open/close and jose signature are not in it). The cluster A/B below ran with
the synchronous lstat. Whole cluster, 1000 files, interleaved
A/B (nodes' CPU-ms per file, hq-1 + hq-2 + branch-1, load average 17–40: noisy):
6.1, 6.8, 6.9 and 7.4 staging through \`stageBytes\` (with the synchronous directory open
and close), 7.7 and 8.7 through \`stage\`, every run of the first below every run of the
second: about 0.45 CPU-ms per file less per node (both arms already had the synchronous
receipt signature, not measured apart). The control plane's share
(14–17 CPU-ms per file in all of these runs, 3.2 in the 02:27Z run at load 7) is not the
nodes' doing.`;

const FILE_BYTES = 4096;
const UPLOAD_PARALLELISM = 64;
const DOWNLOAD_PARALLELISM = 16;

export const flags = {
  files: "number of 4 KiB files (default 2000; 500 with --quick)",
  "log-level": "the cluster's log level (default warn; with --keep the logs stay in the work dir)",
  parallel: `files uploaded side by side (default ${UPLOAD_PARALLELISM}; the sync agent runs up to 500)`,
  "batch-linger": "how long a control-plane batch waits for more calls under load, ms (default: the SDK's)",
  "profile-process": "with --profile: the process to profile (control, worker or a node name; default control)",
};

export function timeoutMs(o: Pick<BenchOptions, "quick" | "flags">): number {
  return o.quick ? 5 * 60_000 : 15 * 60_000;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const files = Number(opts.flags["files"] ?? (opts.quick ? 500 : 2000));
  if (!Number.isInteger(files) || files < 1) throw new Error(`--files must be a positive integer, got ${files}`);
  const logLevel = opts.flags["log-level"];
  const bc = await BenchCluster.start(opts, logLevel ? { CUMULUS_LOG_LEVEL: logLevel } : {});
  const admin = bc.cluster.admin;
  if (!admin) throw new Error("the cluster did not print its admin login");
  const upPar = Number(opts.flags["parallel"] ?? UPLOAD_PARALLELISM);
  if (!Number.isInteger(upPar) || upPar < 1) throw new Error(`--parallel must be a positive integer, got ${upPar}`);
  const linger = opts.flags["batch-linger"];
  if (linger !== undefined && !(Number(linger) >= 0))
    throw new Error(`--batch-linger must be a number of milliseconds >= 0, got ${linger}`);
  const client = new BatchingClient({
    server: bc.url,
    ...(linger !== undefined ? { batchLingerMs: Number(linger) } : {}),
  });
  await client.login({ email: admin.email, password: admin.password, deviceName: "bench-smallfiles" });
  const src = path.join(opts.workDir, "src");
  const dst = path.join(opts.workDir, "dst");
  await mkdir(src, { recursive: true });
  await mkdir(dst, { recursive: true });
  const names = Array.from({ length: files }, (_, i) => `f${String(i).padStart(6, "0")}.bin`);
  for (const n of names) await writeFile(path.join(src, n), randomBytes(FILE_BYTES));
  const remote = `/bench-smallfiles-${Date.now()}`;
  await client.mkdir(remote, { parents: true });
  const io = await openTransport("http", null, 16);
  opts.defer(() => io.close());

  const procs = await bc.processes();
  const profiled = procs.find((p) => p.name === (opts.flags["profile-process"] ?? "control"));
  const phase = async (name: string, fn: () => Promise<void>) => {
    const before = cpuSnapshot(procs);
    const self0 = process.cpuUsage();
    const load = os.loadavg()[0]!;
    const t0 = performance.now();
    // --profile: a CPU profile of each phase of one process (through its inspector).
    if (opts.profile && profiled) {
      await mkdir(path.join(opts.workDir, "profiles"), { recursive: true });
      const file = path.join(opts.workDir, "profiles", `${profiled.name}-${name}.cpuprofile`);
      await profileWhile(profiled.pid, file, fn, (m) => opts.log(m));
      opts.log(`wrote ${file}`);
    } else await fn();
    const ms = performance.now() - t0;
    const self = process.cpuUsage(self0);
    const byProc = cpuDelta(procs, before, cpuSnapshot(procs));
    byProc.push({ role: "sdk", name: "bench (SDK)", cpuS: (self.user + self.system) / 1e6 });
    return { ms, byProc, load };
  };

  opts.log(`uploading ${files} files of 4 KiB`);
  const up = await phase("upload", () =>
    runPool(names, upPar, async (n) => {
      await uploadFile(client, {
        localPath: path.join(src, n),
        remotePath: `${remote}/${n}`,
        baseVersion: null,
        chunkIo: io,
        concurrency: 4,
        signal: opts.signal,
      });
    }),
  );
  opts.log(`downloading ${files} files`);
  const down = await phase("download", () =>
    runPool(names, DOWNLOAD_PARALLELISM, async (n) => {
      await downloadFile(client, {
        remotePath: `${remote}/${n}`,
        localPath: path.join(dst, n),
        chunkIo: io,
        concurrency: 4,
        signal: opts.signal,
      });
    }),
  );
  for (const n of names) {
    const [a, b] = await Promise.all([readFile(path.join(src, n)), readFile(path.join(dst, n))]);
    if (!a.equals(b)) throw new Error(`${n} came back different`);
  }

  const perFile = (s: number) => ((s * 1000) / files).toFixed(2);
  const roles = up.byProc.map((p) => p.name);
  const table: Table = {
    headers: ["Process", "Upload CPU-ms/file", "Download CPU-ms/file"],
    rows: roles.map((name, i) => [name, perFile(up.byProc[i]!.cpuS), perFile(down.byProc[i]!.cpuS)]),
  };
  const total = (p: typeof up) => p.byProc.reduce((s, x) => s + x.cpuS, 0);
  table.rows.push(["**total**", `**${perFile(total(up))}**`, `**${perFile(total(down))}**`]);
  const rate = (p: typeof up) => (files / (p.ms / 1000)).toFixed(0);
  const summaryTable: Table = {
    headers: ["Phase", "Files", "Wall s", "Files/s", "CPU-ms/file (all processes)", "Load avg (1 min) at start"],
    rows: [
      ["upload", String(files), (up.ms / 1000).toFixed(1), rate(up), perFile(total(up)), up.load.toFixed(2)],
      ["download", String(files), (down.ms / 1000).toFixed(1), rate(down), perFile(total(down)), down.load.toFixed(2)],
    ],
  };
  return {
    headline: `${files} files of 4 KiB: upload ${rate(up)} files/s, download ${rate(down)} files/s`,
    tables: [
      { title: "Throughput", table: summaryTable },
      { title: "CPU by process", table },
    ],
    notes: [
      `Upload: ${upPar} files side by side; download: ${DOWNLOAD_PARALLELISM}; every file verified afterwards.`,
      `Control-plane calls per request (mean batch size): ${Object.entries(client.batchStats())
        .map(([k, v]) => `${k} ${(v.calls / Math.max(1, v.requests)).toFixed(1)} (${v.requests} requests)`)
        .join(", ")}${linger !== undefined ? `; batch linger ${linger} ms` : ""}.`,
      "CPU-ms per file is user + system time of each process over the phase divided by the file count; PostgreSQL is not counted.",
    ],
    history: {
      Files: String(files),
      "Upload files/s": rate(up),
      "Upload CPU-ms/file": perFile(total(up)),
      "Download files/s": rate(down),
      "Download CPU-ms/file": perFile(total(down)),
    },
  };
}
