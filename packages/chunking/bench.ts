// Throughput benchmark: `node bench.ts [fileMiB]` (default 1024).
// Measures raw FastCDC cut-point speed, chunking + SHA-256 of an in-memory
// buffer, and chunkFile on a temporary file, reporting peak RSS for the latter
// to show that memory stays bounded regardless of file size.

import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cutPoints } from "./src/fastcdc.ts";
import { collectManifest } from "./src/manifest.ts";
import { chunkFile, chunkStream } from "./src/node.ts";
import { createRng, randomBytes } from "@cumulus/testing/prng";

const MiB = 1024 * 1024;
const fileMiB = Number(process.argv[2] ?? 1024);

function rate(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
}

/** Runs fn and returns wall-clock and CPU milliseconds: CPU time stays meaningful on a shared, loaded machine. */
async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, wallMs, cpuMs: (c.user + c.system) / 1000 };
}

const buf = randomBytes(1, 256 * MiB);
for (let round = 0; round < 3; round++) {
  const cdc = await timed(() => cutPoints(buf));
  const hashed = await timed(() => collectManifest(chunkStream([buf])));
  console.log(
    `round ${round}: cutPoints ${rate(buf.length, cdc.wallMs)} wall / ${rate(buf.length, cdc.cpuMs)} CPU ` +
      `(${cdc.value.length} chunks, mean ${(buf.length / cdc.value.length / 1024).toFixed(0)} KiB); ` +
      `chunkStream+sha256 ${rate(buf.length, hashed.wallMs)} wall / ${rate(buf.length, hashed.cpuMs)} CPU`,
  );
}

const dir = await mkdtemp(join(tmpdir(), "cumulus-bench-"));
try {
  const path = join(dir, "big.bin");
  const out = createWriteStream(path);
  const rng = createRng(2);
  for (let i = 0; i < fileMiB / 16; i++) {
    const block = Buffer.allocUnsafe(16 * MiB);
    rng.fill(block);
    if (!out.write(block)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));

  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const { value: m, wallMs, cpuMs } = await timed(() => chunkFile(path));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    `chunkFile ${fileMiB} MiB: ${rate(m.size, wallMs)} wall / ${rate(m.size, cpuMs)} CPU, ${m.chunks.length} chunks, ` +
      `RSS before ${(rssBefore / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB (+${((peak - rssBefore) / MiB).toFixed(0)} MiB)`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
