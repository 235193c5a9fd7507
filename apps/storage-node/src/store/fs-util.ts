import { randomBytes } from "node:crypto";
import { closeSync, fsync, openSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * A rename is only durable once the directory holding the new entry is flushed; without
 * this a power cut after "201 Created" can lose a chunk the client was told is safe.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * fsyncDir for a directory whose lookup is known to be cached (just created or renamed
 * into): open and close are then microseconds of main-thread work, so only the fsync
 * takes a thread-pool round trip. Not for cold directories, whose open may read the disk.
 */
export function fsyncDirHot(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = openSync(dir, "r");
    } catch (err) {
      reject(err as Error);
      return;
    }
    fsync(fd, (err) => {
      try {
        closeSync(fd);
      } catch (e) {
        err ??= e as NodeJS.ErrnoException;
      }
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Writes a small file so that readers see either the old or the new content, never half. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}
