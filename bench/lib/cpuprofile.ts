// `node bench/lib/cpuprofile.ts FILE_OR_DIR... [--top N] [--own]`: the functions with the
// most self time in V8 CPU profiles (.cpuprofile, as written by `node --cpu-prof`), per
// file; with --own, time is charged to the nearest function of this repository instead.
import { readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function (same name and location merged), largest first. */
export function hotSpots(p: CpuProfile, top = 15): { totalMs: number; idleMs: number; spots: HotSpot[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const merged = new Map<string, HotSpot>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    totalMs += ms;
    const name = f.functionName || "(anonymous)";
    if (name === "(idle)") idleMs += ms;
    const file = f.url ? f.url.replace(/^file:\/\//, "").replace(/.*\/(packages|apps|node_modules)\//, "$1/") : "";
    const where = file ? `${file}:${f.lineNumber + 1}` : "";
    const key = `${name}@${where}`;
    const h = merged.get(key) ?? { name, where, selfMs: 0, share: 0 };
    h.selfMs += ms;
    merged.set(key, h);
  }
  const busy = totalMs - idleMs;
  const spots = [...merged.values()]
    .filter((h) => h.name !== "(idle)")
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top)
    .map((h) => ({ ...h, share: busy > 0 ? h.selfMs / busy : 0 }));
  return { totalMs, idleMs, spots };
}

/**
 * Self time charged to the nearest caller in this repository's own code (packages/, apps/,
 * bench/; not node_modules): which of our functions the time in Node internals and
 * libraries (undici, streams, crypto) is spent on behalf of.
 */
export function byOwnFrame(p: CpuProfile, top = 15): HotSpot[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const own = (url: string) => /\/(packages|apps|bench)\//.test(url) && !url.includes("node_modules");
  const charged = new Map<string, HotSpot>();
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    let id: number | undefined = p.samples[i]!;
    const leaf = byId.get(id)?.callFrame.functionName;
    if (leaf === "(idle)") continue;
    busy += dt;
    let key = leaf === "(garbage collector)" || leaf === "(program)" ? leaf : "(outside our code)";
    let where = "";
    while (id !== undefined && key === "(outside our code)") {
      const f = byId.get(id)?.callFrame;
      if (f && own(f.url)) {
        key = f.functionName || "(anonymous)";
        where = `${f.url.replace(/^file:\/\//, "").replace(/.*\/(packages|apps|bench)\//, "$1/")}:${f.lineNumber + 1}`;
      }
      id = parent.get(id);
    }
    const k = `${key}@${where}`;
    const h = charged.get(k) ?? { name: key, where, selfMs: 0, share: 0 };
    h.selfMs += dt;
    charged.set(k, h);
  }
  return [...charged.values()]
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top)
    .map((h) => ({ ...h, share: busy > 0 ? h.selfMs / busy : 0 }));
}

async function files(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    if ((await stat(a)).isDirectory()) {
      for (const f of (await readdir(a)).sort()) if (f.endsWith(".cpuprofile")) out.push(path.join(a, f));
    } else out.push(a);
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  let top = 15;
  let own = false;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--top") top = Number(argv[++i]);
    else if (argv[i] === "--own") own = true;
    else paths.push(argv[i]!);
  }
  if (!paths.length) {
    process.stderr.write("usage: node bench/lib/cpuprofile.ts FILE_OR_DIR... [--top N] [--own]\n");
    process.exitCode = 2;
    return;
  }
  for (const f of await files(paths)) {
    const p = JSON.parse(await readFile(f, "utf8")) as CpuProfile;
    const { totalMs, idleMs, spots: self } = hotSpots(p, top);
    const spots = own ? byOwnFrame(p, top) : self;
    process.stdout.write(
      `\n${f}: ${(totalMs / 1000).toFixed(1)} s sampled, ${((totalMs - idleMs) / 1000).toFixed(1)} s busy\n`,
    );
    for (const h of spots) {
      process.stdout.write(
        `  ${(h.share * 100).toFixed(1).padStart(5)}%  ${(h.selfMs / 1000).toFixed(2).padStart(7)} s  ${h.name}  ${h.where}\n`,
      );
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
