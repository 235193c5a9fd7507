// `npm run bench -- datapath`: how fast one big file goes into and out of Cumulus, against
// what this machine's disk and a plain HTTP file server (nginx) do with the same file in
// the same run.
import { mkdir, readFile, rm, statfs } from "node:fs/promises";
import path from "node:path";
import { BenchCluster, cpuDelta, cpuSnapshot, requireCli, type ClusterProcessInfo } from "./lib/cumulus.ts";
import {
  GiB,
  MiB,
  dropCaches,
  exec,
  fmtRate,
  fmtSeconds,
  humanSize,
  mbps,
  processCpuSeconds,
  readThrough,
  sha256File,
  sleep,
  syncAll,
  timed,
  writeRandomFile,
  type BenchOptions,
  type BenchResult,
  type Table,
} from "./lib/harness.ts";
import { ceiling, measureKernels } from "./lib/ceiling.ts";
import { profileWhile } from "./lib/inspect.ts";
import { startNginx } from "./lib/nginx.ts";

export const summary = "one big random file: raw disk, nginx WebDAV PUT/GET and Cumulus put/get (1 and 2 replicas)";

export const method = `What one big file costs on the data path, next to what the same machine does without
Cumulus, all in one run on one disk. A fresh cluster in a box (\`e2e/fixtures/cluster.ts\`:
embedded PostgreSQL, control plane, worker, storage nodes hq-1, hq-2, branch-1) and nginx run
on loopback, with their data in a temp dir on the repository's disk (never tmpfs). Two files
of fresh random data (so nothing deduplicates) are generated: A for the disk, nginx and
Cumulus 1-replica measurements, B for Cumulus 2 replicas (A's chunks would already be
stored).

- **disk write**: \`cp A copy && sync\`; **disk read**: \`cat copy > /dev/null\` after dropping
  the page cache.
- **nginx PUT**: \`curl -T A\` to Debian's nginx (WebDAV \`dav_methods PUT\`,
  \`client_max_body_size 0\`); **nginx GET**: \`curl -o\` of the same file after dropping the
  page cache. nginx does not fsync; the "+ sync" rows add a \`sync\` afterwards (the Cumulus
  nodes fsync every chunk, and the client fsyncs a download before renaming it).
- **Cumulus put/get**: the \`cumulus\` CLI as a user runs it
  (\`node packages/cli/bin/cumulus.js put|get … --json\`, default concurrency), into folders
  whose policy is \`--replicas 1\` and \`--replicas 2\`; the time is the wall time of that one
  command (login and folder setup excluded, CLI start-up included: see its row). Every
  download is verified by SHA-256 against its source, and \`cumulus stat\` must show the
  requested number of replicas on every chunk.
- Before a write the source is read once (warm page cache) and \`sync\` flushes older writes;
  before a read the page cache is dropped (\`echo 3 > /proc/sys/vm/drop_caches\`) when the
  kernel allows it, else the notes say the reads were warm.
- CPU seconds come from \`times\` (commands) and \`/proc/PID/stat\` (servers), so one can see
  whether a transfer was CPU-bound on this machine.
- **The ceiling**: the baseline's own CPU plus the work Cumulus cannot skip without dropping
  a guarantee (FastCDC and SHA-256 chunk ids on the client, SHA-256 on the node, and on the
  client again for downloads), each measured in the run, spread perfectly over every core
  with zero overhead. A target whose ratio is above the best possible ratio cannot be met on
  this machine by any implementation that keeps those guarantees.

Targets: Cumulus download ≥ 0.8 × nginx GET, Cumulus upload with 1 replica ≥ 0.6 × nginx PUT.
A MISS is reported, not a failure.`;

const DEFAULT_SIZE = GiB;
const QUICK_SIZE = 64 * MiB;

function sizeOf(opts: Pick<BenchOptions, "size" | "quick">): number {
  return opts.size ?? (opts.quick ? QUICK_SIZE : DEFAULT_SIZE);
}

export function timeoutMs(opts: Pick<BenchOptions, "size" | "quick">): number {
  // Cluster start (up to 150 s) and set-up, then ~14 passes over the file at >= 4 MB/s
  // (each single transfer also has its own limit, at 2 MB/s).
  return 240_000 + Math.ceil((sizeOf(opts) * 14) / 4e6) * 1000;
}

interface Measure {
  label: string;
  bytes: number;
  ms: number;
  /** CPU seconds, by who. */
  cpu?: Record<string, number>;
  note?: string;
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  requireCli();
  const size = sizeOf(opts);
  const w = opts.workDir;
  const { log, signal } = opts;
  // A, B, the disk copy, nginx's copy, its client_body temp, 1 + 2 replicas, downloads.
  const fsInfo = await statfs(w);
  const need = size * 10;
  if (fsInfo.bavail * fsInfo.bsize < need) {
    throw new Error(
      `${w} has ${humanSize(fsInfo.bavail * fsInfo.bsize)} free; this run needs about ${humanSize(need)}`,
    );
  }
  const xferTimeout = 60_000 + Math.ceil(size / 2e6) * 1000;
  const notes: string[] = [];
  const measures = new Map<string, Measure>();
  const put = (key: string, m: Measure) => {
    measures.set(key, m);
    log(`${m.label}: ${humanSize(m.bytes)} in ${fmtSeconds(m.ms)} s = ${fmtRate(mbps(m.bytes, m.ms))} MB/s`);
  };

  const srcA = path.join(w, "a.bin");
  const srcB = path.join(w, "b.bin");
  log(`generating two files of ${humanSize(size)} of random data while the cluster starts`);
  const [cluster, shaA, shaB] = await Promise.all([
    BenchCluster.start(opts),
    writeRandomFile(srcA, size, signal),
    writeRandomFile(srcB, size, signal),
  ]);
  syncAll();

  const canDrop = dropCaches();
  if (!canDrop) {
    notes.push(
      "The page cache could not be dropped (needs root and a writable /proc/sys/vm/drop_caches): every read was warm, from memory.",
    );
  }
  const cold = () => {
    if (canDrop) dropCaches();
  };
  const warm = async (file: string) => {
    await readThrough(file);
    syncAll();
  };

  // --- raw disk ---------------------------------------------------------------------
  const copy = path.join(w, "copy.bin");
  await warm(srcA);
  {
    const r = await exec("sh", ["-c", 'cp "$1" "$2" && sync', "sh", srcA, copy], {
      timeoutMs: xferTimeout,
      signal,
      cpu: true,
    });
    put("diskWrite", { label: "disk write (cp + sync)", bytes: size, ms: r.ms, cpu: { cp: r.cpuS ?? 0 } });
  }
  cold();
  {
    const r = await exec("sh", ["-c", 'cat "$1" > /dev/null', "sh", copy], {
      timeoutMs: xferTimeout,
      signal,
      cpu: true,
    });
    put("diskRead", {
      label: `disk read (cat, ${canDrop ? "cold" : "warm"})`,
      bytes: size,
      ms: r.ms,
      cpu: { cat: r.cpuS ?? 0 },
    });
  }
  await rm(copy, { force: true });

  // --- nginx ------------------------------------------------------------------------
  const nginxDir = path.join(w, "nginx");
  await mkdir(nginxDir, { recursive: true });
  const nginx = await startNginx(nginxDir, signal);
  opts.defer(() => nginx.stop());
  log(`nginx ${nginx.version} on ${nginx.url}`);
  const nginxPids = () => nginx.pids();
  {
    await warm(srcA);
    const before = cpuOf(nginxPids());
    const r = await exec("curl", ["-sS", "-f", "-T", srcA, `${nginx.url}/a.bin`, "-o", "/dev/null"], {
      timeoutMs: xferTimeout,
      signal,
      cpu: true,
    });
    const nginxCpu = cpuOf(nginxPids()) - before;
    put("nginxPut", {
      label: "nginx PUT (curl -T)",
      bytes: size,
      ms: r.ms,
      cpu: { curl: r.cpuS ?? 0, nginx: nginxCpu },
    });
    const s = await timed(async () => syncAll());
    put("nginxPutSync", { label: "nginx PUT + sync", bytes: size, ms: r.ms + s.ms });
  }
  {
    cold();
    const out = path.join(w, "nginx-get.bin");
    const before = cpuOf(nginxPids());
    const r = await exec("curl", ["-sS", "-f", "-o", out, `${nginx.url}/a.bin`], {
      timeoutMs: xferTimeout,
      signal,
      cpu: true,
    });
    const nginxCpu = cpuOf(nginxPids()) - before;
    put("nginxGet", {
      label: `nginx GET (curl -o, ${canDrop ? "cold" : "warm"})`,
      bytes: size,
      ms: r.ms,
      cpu: { curl: r.cpuS ?? 0, nginx: nginxCpu },
    });
    const s = await timed(async () => syncAll());
    put("nginxGetSync", { label: "nginx GET + sync", bytes: size, ms: r.ms + s.ms });
    if ((await sha256File(out)) !== shaA) throw new Error("nginx returned different bytes than were PUT");
    await rm(out, { force: true });
  }
  await rm(path.join(nginx.root, "a.bin"), { force: true });

  // --- Cumulus ----------------------------------------------------------------------
  await cluster.login();
  const procs = await cluster.processes();
  for (const [folder, replicas] of [
    ["/bench/r1", 1],
    ["/bench/r2", 2],
  ] as const) {
    await cluster.cliJson(["mkdir", "-p", folder]);
    await cluster.cliJson(["policy", "set", folder, "--replicas", String(replicas)]);
  }
  // What the idle cluster burns (heartbeats, worker loops), to read the CPU columns against.
  const idle0 = cpuSnapshot(procs);
  const idleMs = (await timed(() => sleep(5000, signal))).ms;
  const idle = cpuDelta(procs, idle0, cpuSnapshot(procs));
  const idleText = idle.map((d) => `${d.name} ${((d.cpuS * 1000) / idleMs).toFixed(3)}`).join(", ");

  // CLI start-up and one control-plane round trip, as a share of every transfer below.
  const startup: number[] = [];
  for (let i = 0; i < 3; i++) startup.push((await cluster.cli(["whoami", "--json"])).ms);
  startup.sort((a, b) => a - b);
  const startupMs = startup[1]!;

  const chunkInfo: string[] = [];
  for (const [key, replicas, src, sha] of [
    ["r1", 1, srcA, shaA],
    ["r2", 2, srcB, shaB],
  ] as const) {
    const remote = `/bench/${key}/${path.basename(src)}`;
    await warm(src);
    // With --profile, the storage node that sees the most traffic is profiled too.
    const hot = procs.find((p) => p.name === (replicas === 1 ? "hq-1" : "branch-1"));
    const up = await profiled(opts, hot, `put-${key}`, () =>
      cumulusTransfer(cluster, procs, ["put", src, remote, "--json"], xferTimeout, opts.profile),
    );
    const upJson = JSON.parse(up.stdout) as { bytesUploaded: number; chunksTotal: number; chunksUploaded: number };
    if (upJson.bytesUploaded !== size) {
      throw new Error(
        `cumulus put sent ${upJson.bytesUploaded} of ${size} bytes (deduplicated?): the measurement is void`,
      );
    }
    put(`put${key}`, {
      label: `Cumulus put, ${replicas} replica${replicas > 1 ? "s" : ""}`,
      bytes: size,
      ms: up.ms,
      cpu: up.cpu,
    });

    const st = await cluster.cliJson<{ chunks: { replicas: { node: string; state?: string }[] }[] }>(["stat", remote]);
    const counts = st.chunks.map((c) => c.replicas.length);
    const nodes = new Map<string, number>();
    for (const c of st.chunks) for (const r of c.replicas) nodes.set(r.node, (nodes.get(r.node) ?? 0) + 1);
    if (counts.some((n) => n !== replicas)) {
      throw new Error(
        `${remote}: expected ${replicas} replica(s) per chunk, stat shows ${[...new Set(counts)].join("/")}`,
      );
    }
    chunkInfo.push(
      `${replicas} replica${replicas > 1 ? "s" : ""}: ${upJson.chunksTotal} chunks (mean ${humanSize(Math.round(size / upJson.chunksTotal))}), replicas on ${[...nodes].map(([n, c]) => `${n} ${c}`).join(", ")}`,
    );

    cold();
    const out = path.join(w, `get-${key}.bin`);
    const down = await profiled(opts, hot, `get-${key}`, () =>
      cumulusTransfer(cluster, procs, ["get", remote, out, "--json"], xferTimeout, opts.profile),
    );
    put(`get${key}`, {
      label: `Cumulus get, ${replicas} replica${replicas > 1 ? "s" : ""} (${canDrop ? "cold" : "warm"})`,
      bytes: size,
      ms: down.ms,
      cpu: down.cpu,
    });
    const got = await sha256File(out);
    if (got !== sha)
      throw new Error(
        `cumulus get ${remote}: SHA-256 ${got.slice(0, 16)}… differs from the source's ${sha.slice(0, 16)}…`,
      );
    await rm(out, { force: true });
  }

  // --- where the time goes: the same upload/download through the SDK in-process --------
  const phases = await sdkPhases(cluster, procs, opts, size, canDrop, cold, warm);
  for (const [k, v] of Object.entries(phases.measures)) measures.set(k, v);

  // --- the ceiling: the work that cannot go, on this machine's cores --------------------
  const kernels = measureKernels();

  // --- tables -----------------------------------------------------------------------
  const m = (k: string) => measures.get(k)!;
  const rate = (k: string) => mbps(m(k).bytes, m(k).ms);
  const cpuTotal = (k: string) => Object.values(m(k).cpu ?? {}).reduce((a, b) => a + b, 0);
  const cpuPerGiB = (k: string) => (m(k).cpu ? ((cpuTotal(k) * GiB) / m(k).bytes).toFixed(1) : "");
  const row = (k: string, note = ""): string[] => [
    m(k).label,
    humanSize(m(k).bytes),
    fmtSeconds(m(k).ms),
    fmtRate(rate(k)),
    cpuPerGiB(k),
    note,
  ];
  const results: Table = {
    headers: ["Measurement", "Size", "Seconds", "MB/s", "CPU s/GiB", "CPU seconds by process"],
    rows: [
      row("diskWrite", cpuSummary(m("diskWrite").cpu)),
      row("diskRead", cpuSummary(m("diskRead").cpu)),
      row("nginxPut", cpuSummary(m("nginxPut").cpu)),
      row("nginxPutSync"),
      row("nginxGet", cpuSummary(m("nginxGet").cpu)),
      row("nginxGetSync"),
      row("putr1", cpuSummary(m("putr1").cpu)),
      row("getr1", cpuSummary(m("getr1").cpu)),
      row("putr2", cpuSummary(m("putr2").cpu)),
      row("getr2", cpuSummary(m("getr2").cpu)),
      ["CLI start-up + whoami (median of 3)", "-", fmtSeconds(startupMs), "-", "", ""],
    ],
    align: ["left", "right", "right", "right", "right", "left"],
  };

  /** `cpu`: a ratio of CPU seconds per GiB (lower is better for Cumulus) instead of MB/s. */
  type Ratio = { label: string; num: string; den: string; target?: number; cpu?: boolean };
  const ratioDefs: Ratio[] = [
    { label: "Cumulus get r1 ÷ nginx GET", num: "getr1", den: "nginxGet", target: 0.8 },
    { label: "Cumulus get r2 ÷ nginx GET", num: "getr2", den: "nginxGet", target: 0.8 },
    { label: "Cumulus put r1 ÷ nginx PUT", num: "putr1", den: "nginxPut", target: 0.6 },
    { label: "Cumulus put r2 ÷ nginx PUT", num: "putr2", den: "nginxPut" },
    { label: "Cumulus get r1 ÷ nginx GET + sync", num: "getr1", den: "nginxGetSync" },
    { label: "Cumulus put r1 ÷ nginx PUT + sync", num: "putr1", den: "nginxPutSync" },
    { label: "Cumulus get r1 ÷ disk read", num: "getr1", den: "diskRead" },
    { label: "Cumulus put r1 ÷ disk write", num: "putr1", den: "diskWrite" },
    { label: "nginx GET ÷ disk read", num: "nginxGet", den: "diskRead" },
    { label: "nginx PUT ÷ disk write", num: "nginxPut", den: "diskWrite" },
    { label: "CPU per GiB: Cumulus put r1 ÷ nginx PUT", num: "putr1", den: "nginxPut", cpu: true },
    { label: "CPU per GiB: Cumulus get r1 ÷ nginx GET", num: "getr1", den: "nginxGet", cpu: true },
  ];
  const verdicts: string[] = [];
  const ratios: Table = {
    headers: ["Ratio", "Value", "Target", "Verdict"],
    rows: ratioDefs.map((d) => {
      const v = d.cpu ? cpuTotal(d.num) / cpuTotal(d.den) : rate(d.num) / rate(d.den);
      const verdict = d.target === undefined ? "info" : v >= d.target ? "PASS" : "MISS";
      if (d.target !== undefined) verdicts.push(`${d.label.split(" ÷ ")[0]} ${verdict}`);
      return [d.label, v.toFixed(2), d.target === undefined ? "-" : `≥ ${d.target.toFixed(2)}`, verdict];
    }),
    align: ["left", "right", "right", "left"],
  };

  const perGiB = (k: string) => (cpuTotal(k) * GiB) / m(k).bytes;
  const ceilings = [
    {
      label: "put r1 vs nginx PUT",
      actual: rate("putr1") / rate("nginxPut"),
      target: 0.6,
      c: ceiling({
        baselineMs: m("nginxPut").ms,
        baselineCpuPerGiB: perGiB("nginxPut"),
        bytes: size,
        extra: [
          { what: "FastCDC (client)", cpuPerGiB: kernels.fastcdc },
          { what: "SHA-256 (client: chunk ids)", cpuPerGiB: kernels.sha256 },
          { what: "SHA-256 (node: verify)", cpuPerGiB: kernels.sha256 },
        ],
      }),
    },
    {
      label: "get r1 vs nginx GET",
      actual: rate("getr1") / rate("nginxGet"),
      target: 0.8,
      c: ceiling({
        baselineMs: m("nginxGet").ms,
        baselineCpuPerGiB: perGiB("nginxGet"),
        bytes: size,
        extra: [
          // nginx sends with sendfile; a node must read the chunk into memory to hash it.
          { what: "disk read into memory (node)", cpuPerGiB: perGiB("diskRead") },
          { what: "SHA-256 (node: verify)", cpuPerGiB: kernels.sha256 },
          { what: "SHA-256 (client: verify)", cpuPerGiB: kernels.sha256 },
        ],
      }),
    },
  ];
  const ceilingTable: Table = {
    headers: [
      "Transfer",
      "CPU s/GiB that cannot go",
      "Cores",
      "Fastest possible s",
      "Best possible ratio",
      "Target",
      "Measured ratio",
    ],
    rows: ceilings.map(({ label, actual, target, c }) => [
      label,
      `${c.cpuPerGiB.toFixed(2)} (${c.parts})`,
      String(c.cores),
      fmtSeconds(c.floorMs),
      c.bestRatio.toFixed(2),
      `≥ ${target.toFixed(2)}${c.bestRatio < target ? " (above the ceiling)" : ""}`,
      actual.toFixed(2),
    ]),
    align: ["left", "left", "right", "right", "right", "left", "right"],
  };

  notes.push(
    `Chunks: ${chunkInfo.join("; ")}.`,
    `Versions: ${nginx.version}, curl ${(await exec("curl", ["--version"])).stdout.split(" ")[1] ?? "?"}, Node ${process.version}.`,
    `Idle cluster, CPU seconds per second (included in the CPU columns, scale by the transfer's seconds): ${idleText}.`,
    "CPU seconds of Cumulus transfers: `cli` is the cumulus process; storage nodes by name; `control` is the control plane and worker. CPU s/GiB is the sum over all of them (and over curl + nginx for nginx) per GiB moved: on a shared machine it is steadier than MB/s.",
    `The ceiling: the baseline's own CPU (curl + nginx moving the bytes) plus the work Cumulus cannot skip without dropping a guarantee (FastCDC and SHA-256 chunk ids on the client, SHA-256 verification on the node and, for downloads, on the client), each measured in this run (SHA-256 ${kernels.sha256.toFixed(2)} and FastCDC ${kernels.fastcdc.toFixed(2)} CPU s/GiB over bytes in memory), spread perfectly over every core with no other cost: no CLI start-up, control plane, HTTP parsing, fsync or garbage collection. A best possible ratio under the target means no implementation keeping those guarantees meets it on this machine.`,
  );
  if (opts.profile && cluster.profiles) {
    notes.push(
      `CPU profiles are in ${cluster.profiles} (cli: every cumulus command; servers: hq-1 during r1, branch-1 during r2, the control plane during the SDK upload); summarize with \`node bench/lib/cpuprofile.ts DIR\`. Profiling slows what it watches: do not record such a run.`,
    );
  }

  const r = (k: string) => fmtRate(rate(k));
  return {
    headline: `${humanSize(size)} random file`,
    tables: [
      { title: "Results", table: results },
      { title: "Ratios (same run)", table: ratios },
      {
        title: "The ceiling on this machine: the work that cannot go, on every core, with zero overhead",
        table: ceilingTable,
      },
      { title: "Where the time goes: the same transfers through the SDK in-process (1 replica)", table: phases.table },
    ],
    notes,
    history: {
      Size: humanSize(size),
      "disk w/r MB/s": `${r("diskWrite")} / ${r("diskRead")}`,
      "nginx PUT/GET MB/s": `${r("nginxPut")} / ${r("nginxGet")}`,
      "Cumulus put r1/r2 MB/s": `${r("putr1")} / ${r("putr2")}`,
      "Cumulus get r1/r2 MB/s": `${r("getr1")} / ${r("getr2")}`,
      "get r1 ÷ nginx GET": (rate("getr1") / rate("nginxGet")).toFixed(2),
      "put r1 ÷ nginx PUT": (rate("putr1") / rate("nginxPut")).toFixed(2),
      "CPU s/GiB put r1 / get r1 / nginx PUT / GET": [
        cpuPerGiB("putr1"),
        cpuPerGiB("getr1"),
        cpuPerGiB("nginxPut"),
        cpuPerGiB("nginxGet"),
      ].join(" / "),
    },
  };
}

/** With --profile: `fn` while `proc` is being CPU-profiled (profiles/servers/LABEL-NAME.cpuprofile). */
async function profiled<T>(
  opts: BenchOptions,
  proc: ClusterProcessInfo | undefined,
  label: string,
  fn: () => Promise<T>,
): Promise<T> {
  if (!opts.profile || !proc) return fn();
  const dir = path.join(opts.workDir, "profiles", "servers");
  await mkdir(dir, { recursive: true });
  return profileWhile(proc.pid, path.join(dir, `${label}-${proc.name}.cpuprofile`), fn, (msg) =>
    opts.log(`profile: ${msg}`),
  );
}

/** One CLI transfer with the CPU used by the CLI and by every cluster process meanwhile. */
async function cumulusTransfer(
  cluster: BenchCluster,
  procs: ClusterProcessInfo[],
  args: string[],
  timeoutMs: number,
  profile: boolean,
): Promise<{ ms: number; stdout: string; cpu: Record<string, number> }> {
  const before = cpuSnapshot(procs);
  const r = await cluster.cli(args, { timeoutMs, cpu: true, profile });
  const after = cpuSnapshot(procs);
  const cpu: Record<string, number> = { cli: r.cpuS ?? 0 };
  for (const d of cpuDelta(procs, before, after)) {
    const key = d.role === "storage-node" ? d.name : "control";
    cpu[key] = (cpu[key] ?? 0) + d.cpuS;
  }
  return { ms: r.ms, stdout: r.stdout, cpu };
}

function cpuSummary(cpu: Record<string, number> | undefined): string {
  if (!cpu) return "";
  const parts = Object.entries(cpu)
    .filter(([, s]) => s >= 0.05)
    .map(([k, s]) => `${k} ${s.toFixed(1)}`);
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  return parts.length > 1 ? `${parts.join(", ")} (total ${total.toFixed(1)})` : parts.join("");
}

function cpuOf(pids: number[]): number {
  return pids.reduce((a, p) => a + (processCpuSeconds(p) ?? 0), 0);
}

type Clock = { first: Map<string, number>; last: Map<string, number> };

function phaseClock(): { clock: Clock; on: (phase: string) => void } {
  const clock: Clock = { first: new Map(), last: new Map() };
  return {
    clock,
    on(phase) {
      const t = performance.now();
      if (!clock.first.has(phase)) clock.first.set(phase, t);
      clock.last.set(phase, t);
    },
  };
}

/** "client 1.2, hq-1 0.4, …": this process's CPU plus the cluster's, during one SDK transfer. */
function cpuText(client: NodeJS.CpuUsage, cluster: { role: string; name: string; cpuS: number }[]): string {
  const cpu: Record<string, number> = { client: (client.user + client.system) / 1e6 };
  for (const d of cluster) {
    const key = d.role === "storage-node" ? d.name : "control";
    cpu[key] = (cpu[key] ?? 0) + d.cpuS;
  }
  return cpuSummary(cpu);
}

/**
 * One upload and one download of a third file through the SDK in this process, with the
 * time of every progress phase: chunking/hashing, beginUpload, chunk PUTs, commit;
 * download plan, chunk GETs, fsync + rename.
 */
async function sdkPhases(
  cluster: BenchCluster,
  procs: ClusterProcessInfo[],
  opts: BenchOptions,
  size: number,
  canDrop: boolean,
  cold: () => void,
  warm: (file: string) => Promise<void>,
): Promise<{ table: Table; measures: Record<string, Measure> }> {
  const { CumulusClient } = await import("@cumulus/client/client");
  const { uploadFile } = await import("@cumulus/client/node/upload-file");
  const { downloadFile } = await import("@cumulus/client/node/download-file");
  const cfg = JSON.parse(await readFile(path.join(cluster.configDir, "config.json"), "utf8")) as {
    server: string;
    token: string;
  };
  const client = new CumulusClient({ server: cfg.server, token: cfg.token });
  const src = path.join(opts.workDir, "c.bin");
  const sha = await writeRandomFile(src, size, opts.signal);
  await warm(src);
  opts.log("SDK in-process upload and download with phase timings");

  const rows: string[][] = [];
  const phaseRow = (label: string, ms: number, total: number, bytes?: number) =>
    rows.push([
      label,
      fmtSeconds(ms),
      `${((ms / total) * 100).toFixed(0)}%`,
      bytes ? fmtRate(mbps(bytes, ms)) : "-",
      "",
    ]);

  // Upload.
  const up = phaseClock();
  const cpu0 = process.cpuUsage();
  const nodes0 = cpuSnapshot(procs);
  const t0 = performance.now();
  const control = procs.find((p) => p.role === "control");
  const r = await profiled(opts, control, "sdk-upload", () =>
    uploadFile(client, {
      localPath: src,
      remotePath: "/bench/r1/c.bin",
      baseVersion: null,
      onProgress: (p) => up.on(p.phase),
      signal: opts.signal,
    }),
  );
  const t1 = performance.now();
  const upCpu = process.cpuUsage(cpu0);
  const upNodes = cpuDelta(procs, nodes0, cpuSnapshot(procs));
  if (r.bytesUploaded !== size) throw new Error(`SDK upload sent ${r.bytesUploaded} of ${size} bytes`);
  const u = up.clock;
  const hashEnd = u.last.get("hashing") ?? t0;
  const upStart = u.first.get("uploading") ?? hashEnd;
  const commitStart = u.first.get("committing") ?? t1;
  const upTotal = t1 - t0;
  rows.push([
    "upload (uploadFile)",
    fmtSeconds(upTotal),
    "100%",
    fmtRate(mbps(size, upTotal)),
    cpuText(upCpu, upNodes),
  ]);
  phaseRow("  chunk + hash pass (one read, FastCDC, SHA-256)", hashEnd - t0, upTotal, size);
  phaseRow("  beginUpload (manifest to the control plane)", upStart - hashEnd, upTotal);
  phaseRow("  chunk PUTs (re-read, send; node hash, write, fsync)", commitStart - upStart, upTotal, size);
  phaseRow("  commitUpload (receipts)", t1 - commitStart, upTotal);

  // Download.
  cold();
  const down = phaseClock();
  const out = path.join(opts.workDir, "c.out");
  const cpu1 = process.cpuUsage();
  const nodes1 = cpuSnapshot(procs);
  const d0 = performance.now();
  let lastChunk = d0;
  await downloadFile(client, {
    remotePath: "/bench/r1/c.bin",
    localPath: out,
    onProgress: (p) => {
      down.on(p.phase);
      if (p.phase === "downloading" && p.chunksTransferred > 0) lastChunk = performance.now();
    },
    signal: opts.signal,
  });
  const d1 = performance.now();
  const downCpu = process.cpuUsage(cpu1);
  const downNodes = cpuDelta(procs, nodes1, cpuSnapshot(procs));
  const firstEvent = down.clock.first.get("downloading") ?? d0;
  const downTotal = d1 - d0;
  rows.push([
    `download (downloadFile, ${canDrop ? "cold" : "warm"})`,
    fmtSeconds(downTotal),
    "100%",
    fmtRate(mbps(size, downTotal)),
    cpuText(downCpu, downNodes),
  ]);
  phaseRow("  downloadPlan + open/truncate", firstEvent - d0, downTotal);
  phaseRow("  chunk GETs (node read + hash, client hash, pwrite)", lastChunk - firstEvent, downTotal, size);
  phaseRow("  fsync + rename", d1 - lastChunk, downTotal);
  if ((await sha256File(out)) !== sha) throw new Error("SDK download: SHA-256 differs from the source");
  await rm(out, { force: true });

  // Reference: SHA-256 alone over the same file, warm.
  await warm(src);
  const hashing = await timed(() => sha256File(src));
  rows.push([
    "reference: SHA-256 alone (node:crypto, warm file)",
    fmtSeconds(hashing.ms),
    "-",
    fmtRate(mbps(size, hashing.ms)),
    "",
  ]);
  await rm(src, { force: true });

  return {
    table: {
      headers: ["Phase", "Seconds", "Share", "MB/s", "CPU seconds by process"],
      rows,
      align: ["left", "right", "right", "right", "left"],
    },
    measures: {
      sdkUp: { label: "SDK upload, 1 replica", bytes: size, ms: upTotal },
      sdkDown: { label: "SDK download, 1 replica", bytes: size, ms: downTotal },
    },
  };
}
