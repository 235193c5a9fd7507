import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.ts";
import { freePort } from "./testing/net.ts";

// These tests run their own servers (one cluster, started several times), independent of
// the shared test PostgreSQL.

let root: string;
let dataDir: string;
let port: number;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "cumulus-embedded-"));
  // mkdtemp makes it 0700; as root, PostgreSQL runs as "postgres" and must pass through.
  await fs.chmod(root, 0o711);
  dataDir = path.join(root, "data");
  port = await freePort();
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  delete process.env.CUMULUS_PG_PORT;
});

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function postmasterPid(): Promise<number> {
  const text = await fs.readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8");
  return Number(text.split("\n")[0]);
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("data survives a stop and a restart, and the port and password are remembered", async () => {
  const first = await startEmbeddedPostgres({ dataDir, port, ephemeral: true });
  try {
    expect(first.port).toBe(port);
    expect(new URL(first.url).pathname).toBe("/cumulus");
    await sql(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from the first run')");
  } finally {
    await first.stop();
  }
  await first.stop(); // idempotent

  const config = JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8")) as { port: number };
  expect(config.port).toBe(port);
  expect((await fs.stat(path.join(dataDir, "postgres.json"))).mode & 0o777).toBe(0o600);

  const second = await startEmbeddedPostgres({ dataDir, ephemeral: true }); // port from postgres.json
  try {
    expect(second.port).toBe(port);
    expect(second.url).toBe(first.url);
    expect(await sql(second.url, "SELECT note FROM kept")).toEqual([{ note: "from the first run" }]);
  } finally {
    await second.stop();
  }
  const log = await fs.readFile(path.join(dataDir, "postgres.log"), "utf8");
  expect(log).toContain("database system is ready to accept connections");
});

test("CUMULUS_PG_PORT overrides the recorded port, which it then replaces", async () => {
  const other = await freePort();
  process.env.CUMULUS_PG_PORT = String(other);
  const server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  await server.stop();
  expect(server.port).toBe(other);
  delete process.env.CUMULUS_PG_PORT;
  const config = JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8")) as { port: number };
  expect(config.port).toBe(other);
  port = other;
});

test("a port in use is reported in one actionable line", async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
  try {
    await expect(startEmbeddedPostgres({ dataDir, ephemeral: true })).rejects.toMatchObject({
      code: "port-in-use",
      message: `PostgreSQL port ${port} is in use: stop the other server or set CUMULUS_PG_PORT`,
    });
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test("an unwritable data directory is reported in one line", async () => {
  const file = path.join(root, "not-a-directory");
  await fs.writeFile(file, "");
  const error = await startEmbeddedPostgres({ dataDir: path.join(file, "data") }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error?.message).toBe(
    `Cannot write to data directory ${path.join(file, "data")}: a path component is not a directory`,
  );
});

test("recovers from a server killed with SIGKILL (stale postmaster.pid)", async () => {
  const running = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  const pid = await postmasterPid();
  process.kill(pid, "SIGKILL");
  await waitFor(() => !isAlive(pid), "the postmaster to die");
  await expect(fs.access(path.join(dataDir, "postgres", "postmaster.pid"))).resolves.toBeUndefined();
  await running.stop();

  const again = await startEmbeddedPostgres({ dataDir, ephemeral: true });
  try {
    expect(await sql(again.url, "SELECT note FROM kept")).toEqual([{ note: "from the first run" }]);
  } finally {
    await again.stop();
  }
});

test("a postmaster.pid naming an unrelated live process does not block start", async () => {
  const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    await fs.writeFile(
      path.join(dataDir, "postgres", "postmaster.pid"),
      `${sleeper.pid}\n${path.join(dataDir, "postgres")}\n`,
    );
    const server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    await server.stop();
  } finally {
    sleeper.kill("SIGKILL");
  }
});

test("stops a server orphaned by a Node process killed with SIGKILL, then starts", async () => {
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(new URL("./embedded.ts", import.meta.url).href)};
    await startEmbeddedPostgres({ dataDir: process.env.CUMULUS_TEST_DATA_DIR, ephemeral: true });
    process.stdout.write("ready\\n");
    setInterval(() => {}, 60_000);
  `;
  const holder = spawn(process.execPath, ["--input-type=module", "--eval", script], {
    env: { ...process.env, CUMULUS_TEST_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve());
    holder.once("exit", (code) => reject(new Error(`holder exited early (${code})`)));
  });
  const orphan = await postmasterPid();
  // While its owner lives, the server is not ours to take over.
  await expect(startEmbeddedPostgres({ dataDir, ephemeral: true })).rejects.toMatchObject({
    code: "already-running",
    message: `PostgreSQL for ${dataDir} is already running (pid ${orphan}, started by process ${holder.pid}): stop that process first`,
  });
  holder.kill("SIGKILL");
  await waitFor(() => holder.exitCode !== null || holder.signalCode !== null, "the holder to die");
  expect(isAlive(orphan)).toBe(true);

  let server: EmbeddedPostgres | undefined;
  try {
    server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    expect(isAlive(orphan)).toBe(false);
    expect(await sql(server.url, "SELECT note FROM kept")).toEqual([{ note: "from the first run" }]);
  } finally {
    await server?.stop();
    if (isAlive(orphan)) process.kill(orphan, "SIGKILL");
  }
  const log = await fs.readFile(path.join(dataDir, "postgres.log"), "utf8");
  expect(log).toContain(`stopping PostgreSQL left running by an earlier process (pid ${orphan})`);
});
