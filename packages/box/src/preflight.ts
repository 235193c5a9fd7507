import { access, mkdir, writeFile, rm, constants } from "node:fs/promises";
import net from "node:net";
import path from "node:path";

export class ConfigError extends Error {}

/**
 * `mkdir -p` one level at a time. Node's recursive mkdir never returns on some
 * pseudo-filesystems (e.g. under /proc), which would turn a bad CUMULUS_DATA_DIR into a hang.
 */
export async function mkdirp(dir: string): Promise<void> {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    try {
      await access(cur);
      break;
    } catch {
      missing.push(cur);
      const parent = path.dirname(cur);
      if (parent === cur) break;
      cur = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

export async function checkDataDir(dataDir: string): Promise<void> {
  try {
    await mkdirp(dataDir);
    await access(dataDir, constants.W_OK);
    const probe = path.join(dataDir, `.write-test-${process.pid}`);
    await writeFile(probe, "ok");
    await rm(probe);
  } catch (err) {
    throw new ConfigError(
      `data directory ${dataDir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix its permissions or set CUMULUS_DATA_DIR`,
    );
  }
}

export function portFree(port: number, host = "0.0.0.0"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function checkPort(port: number, what: string, envVar: string): Promise<void> {
  if (!(await portFree(port))) {
    throw new ConfigError(`port ${port} (${what}) is already in use: stop the process using it or set ${envVar}`);
  }
}

/** A free port at or after `from`, skipping the ones already `taken`. */
export async function findFreePort(from: number, taken: ReadonlySet<number>): Promise<number> {
  for (let p = from; p < 65535; p++) {
    if (!taken.has(p) && (await portFree(p))) return p;
  }
  throw new ConfigError(`no free port at or above ${from}`);
}
