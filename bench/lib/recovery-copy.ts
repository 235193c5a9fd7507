// `node bench/lib/recovery-copy.ts [--chunks N] [--batch N] [--profile FILE]`: the storage
// node's share of a repair, alone. Two real storage nodes in this process (a fake control
// plane mints their tokens) with data dirs in the temp dir; the target pulls N chunks of
// 1.25 MB from the source through POST /replicate/batch (one call per batch, all batches
// at once), each verified on arrival and flushed with grouped fsyncs. Prints MB/s and the
// CPU seconds of both nodes together; with --profile, a V8 CPU profile of the copy alone
// (summarize it with `node bench/lib/cpuprofile.ts FILE`). Not recorded: the recovery
// benchmark (`npm run bench -- recovery`) is the end-to-end measure.
import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { parseArgs } from "node:util";
import { dropCaches } from "./harness.ts";
import { FakeControlPlane } from "../../apps/storage-node/src/testing/fake-control-plane.ts";
import { makeChunk, startTestNode, type TestNode } from "../../apps/storage-node/src/testing/util.ts";

const { values } = parseArgs({
  options: {
    chunks: { type: "string", default: "128" },
    batch: { type: "string", default: "32" },
    profile: { type: "string" },
    // The per-chunk GETs of before the framed stream, for comparison: a user's read token,
    // which the stream route refuses, so the target falls back to one GET per chunk.
    "per-chunk": { type: "boolean", default: false },
    // Drop the page cache first (as the recovery benchmark does before its kill): the
    // source reads from the disk.
    cold: { type: "boolean", default: false },
  },
});
const count = Number(values.chunks);
const batchSize = Number(values.batch);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(batchSize) || batchSize < 1 || batchSize > 32) {
  process.stderr.write("usage: node bench/lib/recovery-copy.ts [--chunks N] [--batch 1..32] [--profile FILE]\n");
  process.exit(2);
}

const cp = await FakeControlPlane.start();
const nodes: TestNode[] = [];
try {
  const src = await startTestNode(cp, "copy-src", { scrubBytesPerSec: 0 });
  nodes.push(src);
  const dst = await startTestNode(cp, "copy-dst", { scrubBytesPerSec: 0 });
  nodes.push(dst);
  const chunks = Array.from({ length: count }, () => makeChunk(1_250_000));
  for (const c of chunks) {
    const t = await cp.mint({ aud: [src.nodeId()], op: "write", chunks: [c.id] });
    const r = await fetch(`${src.url}/chunks/${c.id}`, {
      method: "PUT",
      body: c.data,
      headers: { authorization: `Bearer ${t}` },
    });
    if (r.status !== 201) throw new Error(`PUT to the source: HTTP ${r.status}`);
  }
  let session: Session | null = null;
  if (values.profile) {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
  }
  if (values.cold && !dropCaches()) process.stderr.write("could not drop the page cache (not root?)\n");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const batches: (typeof chunks)[] = [];
  for (let i = 0; i < chunks.length; i += batchSize) batches.push(chunks.slice(i, i + batchSize));
  await Promise.all(
    batches.map(async (b) => {
      const ids = b.map((c) => c.id);
      const token = await cp.mint({
        aud: [dst.nodeId()],
        op: "replicate",
        chunks: ids,
        extra: { sources: [{ nodeId: src.nodeId(), url: src.url }] },
      });
      const readToken = await cp.mint({
        aud: [src.nodeId()],
        op: "read",
        chunks: ids,
        sub: values["per-chunk"] ? "someone" : "system",
      });
      const r = await fetch(`${dst.url}/replicate/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ items: b.map((c) => ({ chunk: c.id, size: c.data.length, sources: [0] })), readToken }),
      });
      const body = (await r.json()) as { results?: { ok: boolean }[] };
      if (r.status !== 200 || !body.results?.every((x) => x.ok))
        throw new Error(`replicate batch: HTTP ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (session) {
    const { profile } = await session.post("Profiler.stop");
    await writeFile(values.profile!, JSON.stringify(profile));
    session.disconnect();
  }
  const mb = (count * 1_250_000) / 1e6;
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(
    `${count} chunks (${mb} MB) in ${batches.length} batch(es) of ≤ ${batchSize}: ${ms.toFixed(0)} ms = ${(mb / (ms / 1000)).toFixed(0)} MB/s; ` +
      `${cpuS.toFixed(2)} CPU s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}) = ${((cpuS * 1000) / mb).toFixed(1)} CPU ms per MB; load average ${(
        await import("node:os")
      )
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
  );
} finally {
  for (const n of nodes) await n.stop();
  await cp.close();
}
