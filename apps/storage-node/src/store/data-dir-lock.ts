import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { errnoCode } from "./fs-util.ts";

/** Lock files held by this process: a pid match alone does not prove the lock is ours. */
const held = new Set<string>();

/**
 * Two processes on one data dir would double-count usage and race on quarantine and
 * node.json, so the second one refuses to start. A lock left by a dead process (crash,
 * kill -9) is taken over, including one carrying our own pid: in a container the node is
 * often the same pid at every start.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = path.join(dataDir, "node.lock");
  if (held.has(lockPath)) throw new Error(`data dir ${dataDir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lockPath, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      held.add(lockPath);
      return async () => {
        held.delete(lockPath);
        await rm(lockPath, { force: true });
      };
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
      const holder = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new Error(`data dir ${dataDir} is in use by process ${holder} (lock file ${lockPath})`, { cause: err });
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}
