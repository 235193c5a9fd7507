import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { lockDataDir } from "./data-dir-lock.ts";
import { tempDir } from "../testing/util.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

it("refuses a second opener and takes over a lock left by a dead process", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const release = await lockDataDir(dir);
  await expect(lockDataDir(dir)).rejects.toThrow(/already open/);
  await release();

  // Another live process (our parent) holds it.
  await writeFile(path.join(dir, "node.lock"), String(process.ppid));
  await expect(lockDataDir(dir)).rejects.toThrow(new RegExp(`in use by process ${process.ppid}`));

  // A crashed one (pid that cannot exist) or a previous incarnation with our own pid.
  for (const stale of [2 ** 22 + 1, process.pid]) {
    await writeFile(path.join(dir, "node.lock"), String(stale));
    const r = await lockDataDir(dir);
    await r();
  }
});
