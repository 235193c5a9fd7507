// The best a transfer could do on this machine: the work a Cumulus put or get cannot skip,
// each part measured in the same run, spread perfectly over every core with zero overhead.
// A target above that ceiling cannot be met here by any implementation that keeps the
// design's guarantees (chunk ids are SHA-256, nodes verify every chunk they store and
// serve, clients verify every chunk they receive).
import { createHash, randomFillSync } from "node:crypto";
import os from "node:os";
import { cutPoints } from "@cumulus/chunking/fastcdc";
import { GiB, MiB } from "./harness.ts";

export interface Kernels {
  /** CPU seconds per GiB of SHA-256 over bytes in memory (node:crypto, i.e. OpenSSL). */
  sha256: number;
  /** CPU seconds per GiB of FastCDC cut-point search over bytes in memory. */
  fastcdc: number;
}

/** CPU seconds `fn` takes, the least of `rounds` tries (the least disturbed by neighbours). */
function cpuOf(fn: () => void, rounds = 3): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e6);
  }
  return best;
}

/** SHA-256 and FastCDC alone, per GiB, over 64 MiB of random bytes in memory. */
export function measureKernels(): Kernels {
  const buf = randomFillSync(Buffer.allocUnsafe(64 * MiB));
  const perGiB = GiB / buf.length;
  const piece = 4 * MiB;
  const sha256 = cpuOf(() => {
    for (let off = 0; off < buf.length; off += piece)
      createHash("sha256")
        .update(buf.subarray(off, off + piece))
        .digest();
  });
  const fastcdc = cpuOf(() => void cutPoints(buf));
  return { sha256: sha256 * perGiB, fastcdc: fastcdc * perGiB };
}

export interface CeilingInput {
  /** The plain server's transfer: wall ms and CPU seconds per GiB (client + server). */
  baselineMs: number;
  baselineCpuPerGiB: number;
  /** CPU seconds per GiB Cumulus must spend on top of the baseline's work. */
  extra: { what: string; cpuPerGiB: number }[];
  bytes: number;
  cores?: number;
}

export interface Ceiling {
  cpuPerGiB: number;
  cores: number;
  /** The fastest wall time: the baseline's own, or all that CPU on every core at once. */
  floorMs: number;
  /** baselineMs ÷ floorMs: the highest ratio to the baseline any implementation could show. */
  bestRatio: number;
  parts: string;
}

export function ceiling(c: CeilingInput): Ceiling {
  const cores = c.cores ?? os.availableParallelism();
  const cpuPerGiB = c.baselineCpuPerGiB + c.extra.reduce((a, e) => a + e.cpuPerGiB, 0);
  const cpuMs = ((cpuPerGiB * c.bytes) / GiB) * 1000;
  const floorMs = Math.max(c.baselineMs, cpuMs / cores);
  const parts = [
    `baseline ${c.baselineCpuPerGiB.toFixed(2)}`,
    ...c.extra.map((e) => `${e.what} ${e.cpuPerGiB.toFixed(2)}`),
  ].join(" + ");
  return { cpuPerGiB, cores, floorMs, bestRatio: c.baselineMs / floorMs, parts };
}
