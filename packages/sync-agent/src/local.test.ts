import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chunkLocalFile } from "@cumulus/client/node/upload-file";
import type { LocalNode } from "@cumulus/sync-engine/model";
import { BASE_SEED, createRng } from "@cumulus/sync-engine/testing/prng";
import { contentHashOf, hashFile } from "./hash.ts";
import { isCaseInsensitive, LocalScanner, localIdOf } from "./local.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "agent-local-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const old = async (p: string) => utimes(p, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));

describe("LocalScanner", () => {
  it("builds a tree with inode ids, hashes, and keeps identity across a rename", async () => {
    await mkdir(path.join(dir, "sub"));
    await writeFile(path.join(dir, "sub", "a.txt"), "hello");
    await old(path.join(dir, "sub", "a.txt"));
    const scanner = new LocalScanner(dir, new Map());
    const first = await scanner.scan();
    const a = first.tree.resolve("/sub/a.txt")!;
    expect(a.id).toBe(localIdOf(await stat(path.join(dir, "sub", "a.txt"))));
    expect(a.contentHash).toBe(await hashFile(path.join(dir, "sub", "a.txt"), 5));
    expect(first.hashed).toBe(1);

    await rename(path.join(dir, "sub"), path.join(dir, "renamed"));
    const second = await scanner.scan();
    expect(second.tree.resolve("/renamed/a.txt")?.id).toBe(a.id);
    expect(second.hashed).toBe(0); // size/mtime/inode unchanged: no re-hash
    expect(second.tree.resolve("/renamed")?.id).toBe(first.tree.resolve("/sub")?.id);
  });

  it("marks recently written files unstable and does not hash them", async () => {
    await writeFile(path.join(dir, "writing.bin"), "partial");
    const scan = await new LocalScanner(dir, new Map()).scan({ stableMs: 60_000 });
    expect(scan.unstable).toBe(1);
    const n = scan.tree.resolve("/writing.bin")!;
    expect(n.unstable).toBe(true);
    expect(n.contentHash).toBeUndefined();
  });

  it("takes a young file as written once a later scan sees the same size and mtime", async () => {
    const p = path.join(dir, "doc.txt");
    await writeFile(p, "draft");
    const scanner = new LocalScanner(dir, new Map());
    // The clock stands still just after the write: only a second look can tell it settled.
    const m = (await stat(p)).mtimeMs;
    let t = m + 5;
    const opts = { stableMs: 60_000, settleMs: 1000, now: () => t };
    expect((await scanner.scan(opts)).tree.resolve("/doc.txt")?.unstable).toBe(true);
    await writeFile(p, "draft, longer");
    t = (await stat(p)).mtimeMs + 5;
    expect((await scanner.scan(opts)).tree.resolve("/doc.txt")?.unstable).toBe(true);
    t += 1000; // seen unchanged a settle period later
    const settled = (await scanner.scan(opts)).tree.resolve("/doc.txt")!;
    expect(settled.unstable).toBeUndefined();
    expect(settled.contentHash).toBe(await hashFile(p, 13));
  });

  it("does not keep a file that stopped changing waiting: quiet for settleMs is settled at first sight", async () => {
    const p = path.join(dir, "done.txt");
    await writeFile(p, "written");
    const m = (await stat(p)).mtimeMs;
    const scan = await new LocalScanner(dir, new Map()).scan({ stableMs: 60_000, settleMs: 150, now: () => m + 200 });
    expect(scan.unstable).toBe(0);
    expect(scan.tree.resolve("/done.txt")?.contentHash).toBe(await hashFile(p, 7));
  });

  it("with stableMs 0 hashes at once, even a file whose mtime is a fraction of a millisecond after now", async () => {
    // Date.now() truncates to the millisecond, and a file written within it has a finer
    // mtime: "now - mtime" is then negative (seen in most writes on this kernel).
    const p = path.join(dir, "fresh.txt");
    await writeFile(p, "just written");
    const m = (await stat(p)).mtimeMs;
    const scan = await new LocalScanner(dir, new Map()).scan({ stableMs: 0, now: () => m - 0.5 });
    expect(scan.unstable).toBe(0);
    expect(scan.tree.resolve("/fresh.txt")?.contentHash).toBe(await hashFile(p, 12));
  });

  it("skips the state dir, symlinks and partial downloads; removes partials when asked; reads .cumulusignore", async () => {
    await mkdir(path.join(dir, ".cumulus"));
    await writeFile(path.join(dir, ".cumulus", "state.db"), "x");
    await writeFile(path.join(dir, "a.txt.cumulus-partial"), "half");
    await symlink("/etc/hostname", path.join(dir, "link"));
    await writeFile(path.join(dir, ".cumulusignore"), "build/\n*.log\n");
    await mkdir(path.join(dir, "build"));
    await writeFile(path.join(dir, "build", "out.o"), "obj");
    await writeFile(path.join(dir, "x.log"), "log");
    const scan = await new LocalScanner(dir, new Map()).scan({
      skip: [path.join(dir, ".cumulus")],
      removePartials: true,
    });
    const names = [...scan.tree.values()].map((n) => n.name).sort();
    expect(names).toEqual(["", ".cumulusignore", "build", "x.log"]);
    expect(scan.ignore.matches("/build", true)).toBe(true);
    expect(scan.ignore.matches("/x.log", false)).toBe(true);
    await expect(stat(path.join(dir, "a.txt.cumulus-partial"))).rejects.toThrow();
  });

  it("hashes what an upload commits: contentHashOf the chunks uploadFile sends", async () => {
    // Deterministic pseudo-random content (SHA-256 in counter mode), large enough for several chunks.
    const blocks: Buffer[] = [];
    for (let i = 0; i < (6 * 1024 * 1024) / 32; i++) blocks.push(createHash("sha256").update(`seed-1:${i}`).digest());
    const bytes = Buffer.concat(blocks);
    await writeFile(path.join(dir, "big.bin"), bytes);
    const { chunks } = await chunkLocalFile(path.join(dir, "big.bin"));
    expect(chunks.length).toBeGreaterThan(1);
    expect(await hashFile(path.join(dir, "big.bin"), bytes.length)).toBe(contentHashOf(chunks));
    expect(await hashFile(path.join(dir, "big.bin"), bytes.length)).not.toBe(contentHashOf(chunks.slice(1)));
  });

  it("probes whether the file system folds case, leaving nothing behind", async () => {
    const folds = await isCaseInsensitive(dir);
    if (process.platform === "linux") expect(folds).toBe(false); // ext4/tmpfs here
    expect(await readdir(dir)).toEqual([]);
  });

  it("reports an unreadable folder instead of failing the scan", async () => {
    if (process.getuid?.() === 0) return; // root reads everything
    await mkdir(path.join(dir, "locked"), { mode: 0o000 });
    const scan = await new LocalScanner(dir, new Map()).scan();
    expect(scan.problems.map((p) => [p.path, p.code])).toEqual([["/locked", "EACCES"]]);
  });
});

describe("LocalScanner.update", () => {
  /** path → "dir" | id:hash, for comparing trees built different ways. */
  const shape = (tree: Map<string, LocalNode> & { pathOf(id: string): string | undefined }) => {
    const out: Record<string, string> = {};
    for (const n of tree.values())
      out[tree.pathOf(n.id) ?? `?${n.id}`] = n.type === "folder" ? `dir ${n.id}` : `${n.id} ${n.contentHash}`;
    return out;
  };

  it("sees only the paths it is told about (and their folders' listings) the same as a full scan", async () => {
    for (let round = 0; round < 8; round++) {
      const s = BASE_SEED + round;
      const rng = createRng(s);
      const r = () => rng.float();
      const pick = <T>(xs: readonly T[]): T => rng.pick(xs);
      const root = await mkdtemp(path.join(os.tmpdir(), "agent-update-"));
      try {
        const dirs = [""];
        const files: string[] = [];
        const write = async (rel: string) => {
          await writeFile(path.join(root, rel), `content ${r()}`);
          await old(path.join(root, rel));
        };
        for (let i = 0; i < 30; i++) {
          if (r() < 0.3) {
            const d = `${pick(dirs)}/d${i}`;
            await mkdir(path.join(root, d));
            dirs.push(d);
          } else {
            const f = `${pick(dirs)}/f${i}.txt`;
            await write(f);
            files.push(f);
          }
        }
        const scanner = new LocalScanner(root, new Map());
        await scanner.scan({ stableMs: 0 });
        // Random edits; `touched` is what a watcher would report: the paths named by each edit only.
        const touched: string[] = [];
        const log: string[] = [];
        for (let i = 0; i < 12; i++) {
          const kind = Math.floor(r() * 6);
          const live = (await readdir(root, { recursive: true, withFileTypes: true })).map((e) => ({
            rel: "/" + path.relative(root, path.join(e.parentPath, e.name)),
            dir: e.isDirectory(),
          }));
          const liveFiles = live.filter((e) => !e.dir).map((e) => e.rel);
          const liveDirs = ["", ...live.filter((e) => e.dir).map((e) => e.rel)];
          const to = `${pick(liveDirs)}/n${round}-${i}`;
          if (kind === 0 || liveFiles.length === 0) {
            await write(`${to}.txt`);
            touched.push(`${to}.txt`);
            log.push(`create ${to}.txt`);
          } else if (kind === 1) {
            const f = pick(liveFiles);
            await write(f); // same inode, new content
            touched.push(f);
            log.push(`modify ${f}`);
          } else if (kind === 2) {
            const f = pick(liveFiles);
            await rm(path.join(root, f));
            touched.push(f);
            log.push(`delete ${f}`);
          } else if (kind === 3) {
            const f = pick(liveFiles);
            await rename(path.join(root, f), path.join(root, `${to}.txt`));
            touched.push(f, `${to}.txt`);
            log.push(`move ${f} ${to}.txt`);
          } else if (kind === 4) {
            const d = pick(liveDirs);
            if (d === "" || to.startsWith(d + "/")) continue;
            await rename(path.join(root, d), path.join(root, to));
            touched.push(d, to);
            log.push(`move ${d} ${to}`);
          } else {
            const d = pick(liveDirs);
            if (d === "") continue;
            await rm(path.join(root, d), { recursive: true });
            touched.push(d);
            log.push(`rmdir ${d}`);
          }
        }
        const updated = await scanner.update(
          touched.map((t) => path.join(root, t)),
          { stableMs: 0 },
        );
        const full = await new LocalScanner(root, new Map()).scan({ stableMs: 0 });
        expect(updated, `seed ${s}`).not.toBeNull();
        expect(shape(updated!.tree), `seed ${s} (TEST_SEED=${BASE_SEED} replays): ${log.join("; ")}`).toEqual(
          shape(full.tree),
        );
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  });

  it("asks for a full scan when .cumulusignore changed, and before any scan", async () => {
    const scanner = new LocalScanner(dir, new Map());
    expect(await scanner.update([path.join(dir, "a.txt")])).toBeNull();
    await scanner.scan();
    await writeFile(path.join(dir, ".cumulusignore"), "*.log\n");
    expect(await scanner.update([path.join(dir, ".cumulusignore")])).toBeNull();
  });
});
