// `node bench/smallfiles-store/store-micro.ts [N] [bytes|stream]...`: what the storage node's
// disk store costs per small chunk on the chunk-batch path, in one process, without HTTP:
// N chunks of 4 KiB staged in batches of 64 and committed (fdatasyncs, renames, directory
// fsyncs), either through `stageBytes` (the batch route's path) or `stage` with a one-piece
// stream (the path before it). Modes run in the order given, so A/B pairs interleave on a
// shared machine; CPU is this process's user + system time (kernel work on its behalf in
// the filesystem's journal thread is not counted). Not a registered benchmark: no cluster,
// nothing recorded.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import type { StagedChunk } from "../../apps/storage-node/src/store/chunk-store.ts";
import { DiskChunkStore } from "../../apps/storage-node/src/store/disk-chunk-store.ts";

const BATCH = 64;
const n = Number(process.argv[2] ?? 2000);
const modes = process.argv.length > 3 ? process.argv.slice(3) : ["bytes", "stream", "bytes", "stream"];
if (!Number.isInteger(n) || n < 1) throw new Error(`N must be a positive integer, got ${process.argv[2]}`);
for (const m of modes) if (m !== "bytes" && m !== "stream") throw new Error(`mode must be bytes or stream, got ${m}`);

async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}

for (const mode of modes) {
  const dir = await mkdtemp(path.join(tmpdir(), "cumulus-store-micro-"));
  try {
    const store = await DiskChunkStore.open({ dataDir: dir, nodeName: "micro" });
    const chunks = Array.from({ length: n }, () => {
      const data = randomBytes(4096);
      return { id: createHash("sha256").update(data).digest("hex"), data };
    });
    const load = loadavg()[0]!;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += BATCH) {
      const staged: StagedChunk[] = [];
      for (const c of chunks.slice(i, i + BATCH))
        staged.push(
          mode === "bytes" ? await store.stageBytes!(c.id, c.data) : await store.stage!(c.id, once(c.data), 4096),
        );
      for (const r of await store.commitStaged!(staged)) if (r instanceof Error) throw r;
    }
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    await store.close();
    const per = (us: number) => (us / 1000 / n).toFixed(3);
    console.log(
      `${mode.padEnd(6)} ${n} chunks: user ${per(cpu.user)} + sys ${per(cpu.system)} CPU-ms/chunk, ` +
        `wall ${(ms / n).toFixed(3)} ms/chunk (load ${load.toFixed(1)})`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
