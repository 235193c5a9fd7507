import { spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, statfs, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test, expect } from "@playwright/test";
import pg from "pg";
import { hashPassword } from "../../packages/control/src/auth/passwords.ts";
import { TestCluster, repoRoot } from "../fixtures/cluster.ts";
import { run, type Run } from "../fixtures/process.ts";

// The `cumulus` CLI against a real cluster in a box: the data path end to end (chunking,
// dedup, pipelines across sites, verified reads with fallback, versions, conflicts).

// Tests run many CLI processes each; a loaded 2-core machine needs more than the default.
test.describe.configure({ mode: "serial", timeout: 300_000 });

const CLI = path.join(repoRoot, "packages", "cli", "bin", "cumulus.js");
const MiB = 1024 * 1024;

let cluster: TestCluster;
let work: string;
let configDir: string;

/** Runs the CLI as a user would (its own process); async so that two can race. */
function cumulus(args: string[], opts: { env?: NodeJS.ProcessEnv; config?: string } = {}): Promise<Run> {
  return run(process.execPath, [CLI, ...args], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      HOME: work,
      CUMULUS_CONFIG_DIR: opts.config ?? configDir,
      CUMULUS_DEVICE_NAME: "e2e",
      ...opts.env,
    },
  });
}

async function ok(args: string[], opts?: Parameters<typeof cumulus>[1]): Promise<string> {
  const r = await cumulus(args, opts);
  expect(r.code, `cumulus ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

type PutJson = { bytesTotal: number; bytesUploaded: number; chunksTotal: number; chunksUploaded: number };

async function json<T = unknown>(args: string[], opts?: Parameters<typeof cumulus>[1]): Promise<T> {
  return JSON.parse(await ok([...args, "--json"], opts)) as T;
}

/** A failure: non-zero exit and exactly one `cumulus: ...` line on stderr, no stack. */
async function fails(args: string[], opts?: Parameters<typeof cumulus>[1]): Promise<Run> {
  const r = await cumulus(args, opts);
  expect(r.code, `cumulus ${args.join(" ")} should fail; stdout: ${r.stdout}`).not.toBe(0);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines, `stderr of cumulus ${args.join(" ")}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^cumulus: \S/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r;
}

async function randomFile(p: string, size: number): Promise<void> {
  const fh = await open(p, "w");
  try {
    for (let off = 0; off < size; off += 8 * MiB) await fh.write(randomBytes(Math.min(8 * MiB, size - off)));
  } finally {
    await fh.close();
  }
}

async function sha256File(p: string): Promise<string> {
  const h = createHash("sha256");
  for await (const b of createReadStream(p, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest("hex");
}

async function token(): Promise<string> {
  return (JSON.parse(await readFile(path.join(configDir, "config.json"), "utf8")) as { token: string }).token;
}

async function api(route: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${cluster.url}/api/v1${route}`, {
    ...init,
    headers: { authorization: `Bearer ${await token()}`, ...(init.headers ?? {}) },
  });
}

type StatJson = {
  path: string;
  size: number;
  versions: number;
  chunks: { id: string; size: number; replicas: { node: string; site: string; state: string }[] }[];
};

test.beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "cumulus-cli-e2e-"));
  configDir = path.join(work, "config");
  cluster = await TestCluster.create();
  await cluster.start();
});

test.afterAll(async () => {
  await cluster?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

test("login stores a device token in a private config file", async () => {
  const out = await json([
    "login",
    "--server",
    cluster.url,
    "--email",
    cluster.admin!.email,
    "--password",
    cluster.admin!.password,
  ]);
  expect(out).toMatchObject({ email: "admin@localhost", role: "admin", deviceName: "e2e" });
  const cfgFile = path.join(configDir, "config.json");
  expect((await stat(cfgFile)).mode & 0o777).toBe(0o600);
  const cfg = JSON.parse(await readFile(cfgFile, "utf8"));
  expect(cfg).toMatchObject({ server: cluster.url, email: "admin@localhost" });
  expect(cfg.token).toMatch(/^\S{20,}$/);
  expect(JSON.stringify(out)).not.toContain(cfg.token);

  const me = await json(["whoami"]);
  expect(me).toMatchObject({ email: "admin@localhost", role: "admin" });

  const wrong = await fails(
    ["login", "--server", cluster.url, "--email", "admin@localhost", "--password", "not-the-password"],
    { config: path.join(work, "cfg-wrong") },
  );
  expect(wrong.code).toBe(3);
  expect(wrong.stderr).toContain("wrong email or password");
});

test("mkdir, ls, mv, rm and the trash", async () => {
  await ok(["mkdir", "-p", "/e2e/ops/a/b"]);
  expect(await json(["ls", "/e2e/ops"])).toEqual([expect.objectContaining({ name: "a", type: "folder", size: 0 })]);
  // Without -p an existing folder is an error.
  expect((await fails(["mkdir", "/e2e/ops/a"])).code).toBe(6);

  await writeFile(path.join(work, "note.txt"), "hello cumulus\n");
  await ok(["put", "note.txt", "/e2e/ops/a/"]);
  expect(await json(["ls", "/e2e/ops/a"])).toEqual([
    expect.objectContaining({ name: "b", type: "folder" }),
    expect.objectContaining({ name: "note.txt", type: "file", size: 14 }),
  ]);
  const long = await ok(["ls", "-l", "/e2e/ops/a"]);
  expect(long).toMatch(/^TYPE\s+SIZE\s+VERSION\s+MODIFIED\s+NAME$/m);
  expect(long).toMatch(/^file\s+14 B\s+1\s+\S+ \S+\s+note\.txt$/m);

  await ok(["mv", "/e2e/ops/a/note.txt", "/e2e/ops/a/renamed.txt"]);
  // Onto an existing folder: into it, keeping the name.
  await ok(["mv", "/e2e/ops/a/renamed.txt", "/e2e/ops/a/b"]);
  expect((await json<{ name: string }[]>(["ls", "/e2e/ops/a/b"])).map((e) => e.name)).toEqual(["renamed.txt"]);

  // A non-empty folder needs -r; nothing is trashed without it.
  expect((await fails(["rm", "/e2e/ops/a"])).stderr).toMatch(/not empty/);
  expect((await json<unknown[]>(["ls", "/e2e/ops"])).length).toBe(1);
  const trashed = await json<{ id: string; originalPath: string }>(["rm", "-r", "/e2e/ops/a"]);
  expect(trashed.originalPath).toBe("/e2e/ops/a");
  expect(await json(["ls", "/e2e/ops"])).toEqual([]);
  const items = await json<{ id: string; originalPath: string }[]>(["trash"]);
  expect(items.map((i) => i.originalPath)).toContain("/e2e/ops/a");

  await ok(["trash", "restore", trashed.id]);
  expect((await json<{ name: string }[]>(["ls", "/e2e/ops/a/b"])).map((e) => e.name)).toEqual(["renamed.txt"]);
  await ok(["get", "/e2e/ops/a/b/renamed.txt", "back.txt"]);
  expect(await readFile(path.join(work, "back.txt"), "utf8")).toBe("hello cumulus\n");
});

const BIG = 256 * MiB;
let bigSha: string;

test("put then get of a 256 MiB random file gives identical bytes", async () => {
  await ok(["mkdir", "-p", "/e2e/data"]);
  await randomFile(path.join(work, "big.bin"), BIG);
  bigSha = await sha256File(path.join(work, "big.bin"));
  const put = await json<PutJson>(["put", "big.bin", "/e2e/data/big.bin"]);
  expect(put).toMatchObject({ bytesTotal: BIG, bytesUploaded: BIG });
  expect(put.chunksTotal).toBeGreaterThan(BIG / (4 * MiB));
  expect(put.chunksUploaded).toBe(put.chunksTotal);

  const got = await json(["get", "/e2e/data/big.bin", "big.out"]);
  expect(got).toMatchObject({ bytesTotal: BIG });
  expect(await sha256File(path.join(work, "big.out"))).toBe(bigSha);
  expect((await readdir(work)).filter((n) => n.endsWith(".cumulus-partial"))).toEqual([]);
});

test("stat --json: every chunk on 2 distinct nodes, spread over both sites", async () => {
  const st = await json<StatJson>(["stat", "/e2e/data/big.bin"]);
  expect(st).toMatchObject({ path: "/e2e/data/big.bin", size: BIG, versions: 1 });
  expect(st.chunks.reduce((a, c) => a + c.size, 0)).toBe(BIG);
  for (const c of st.chunks) {
    expect(c.id).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(c.replicas.map((r) => r.node)).size, `replicas of ${c.id}`).toBe(2);
    expect(new Set(c.replicas.map((r) => r.site))).toEqual(new Set(["hq", "branch"]));
  }
  const human = await ok(["stat", "/e2e/data/big.bin"]);
  expect(human).toMatch(/^Size:\s+256\.0 MiB \(268435456 bytes\)$/m);
  expect(human).toMatch(/branch-1 \(branch\)/);
});

test("putting the same file again uploads no chunk", async () => {
  const again = await json(["put", "big.bin", "/e2e/data/big.bin"]);
  expect(again).toMatchObject({ bytesTotal: BIG, chunksUploaded: 0, bytesUploaded: 0 });
});

test("overwriting 1 MiB in the middle re-uploads at most 4 chunks and makes version 2", async () => {
  const fh = await open(path.join(work, "big.bin"), "r+");
  await fh.write(randomBytes(MiB), 0, MiB, BIG / 2);
  await fh.close();
  const put = await json<PutJson>(["put", "big.bin", "/e2e/data/big.bin"]);
  expect(put.chunksUploaded).toBeGreaterThan(0);
  expect(put.chunksUploaded).toBeLessThanOrEqual(4);
  const versions = await json<{ versions: { number: number; current: boolean }[] }>(["versions", "/e2e/data/big.bin"]);
  expect(versions.versions.map((v) => [v.number, v.current])).toEqual([
    [1, false],
    [2, true],
  ]);
  await ok(["get", "/e2e/data/big.bin", "v2.out"]);
  expect(await sha256File(path.join(work, "v2.out"))).toBe(await sha256File(path.join(work, "big.bin")));
});

test("restore --version 1 gives back the original bytes", async () => {
  const r = await json(["restore", "/e2e/data/big.bin", "--version", "1"]);
  expect(r).toMatchObject({ restoredFrom: 1, version: 3 });
  await ok(["get", "/e2e/data/big.bin", "restored.out"]);
  expect(await sha256File(path.join(work, "restored.out"))).toBe(bigSha);
  // And a past version can be read directly.
  await ok(["get", "/e2e/data/big.bin", "v1.out", "--version", "1"]);
  expect(await sha256File(path.join(work, "v1.out"))).toBe(bigSha);
});

test("a chunk corrupted on a node's disk is detected and read from another replica", async () => {
  const res = await api(`/downloads?path=${encodeURIComponent("/e2e/data/big.bin")}`);
  expect(res.status).toBe(200);
  const plan = (await res.json()) as { chunks: { id: string; replicas: { node: string }[] }[] };
  // The replica the client tries first gets the bad copy, so the fallback must happen.
  const victim = plan.chunks[Math.floor(plan.chunks.length / 3)]!;
  const node = victim.replicas[0]!.node;
  const file = path.join(
    cluster.dataDir,
    "nodes",
    node,
    "chunks",
    victim.id.slice(0, 2),
    victim.id.slice(2, 4),
    victim.id,
  );
  const fh = await open(file, "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, 1000);
  b[0] = b[0]! ^ 0xff;
  await fh.write(b, 0, 1, 1000);
  await fh.close();

  await ok(["get", "/e2e/data/big.bin", "after-corruption.out"]);
  expect(await sha256File(path.join(work, "after-corruption.out"))).toBe(bigSha);
  // The node noticed too: the bad copy left its chunk store (quarantined, and possibly already
  // replaced by a good copy from the reconciler — either way the corrupt bytes are gone).
  await expect
    .poll(() =>
      sha256File(file).then(
        (sha) => (sha === victim.id ? "repaired" : "corrupt"),
        () => "quarantined",
      ),
    )
    .not.toBe("corrupt");
});

test("two clients committing different content to one file: exactly one wins, the other is told", async () => {
  await writeFile(path.join(work, "race-base.txt"), "base\n");
  await ok(["put", "race-base.txt", "/e2e/data/race.bin"]);
  await randomFile(path.join(work, "race-a.bin"), 48 * MiB);
  await randomFile(path.join(work, "race-b.bin"), 48 * MiB);
  const [a, b] = await Promise.all([
    cumulus(["put", "race-a.bin", "/e2e/data/race.bin"]),
    cumulus(["put", "race-b.bin", "/e2e/data/race.bin"]),
  ]);
  const results = [
    { r: a, file: "race-a.bin" },
    { r: b, file: "race-b.bin" },
  ];
  const winners = results.filter((x) => x.r.code === 0);
  const losers = results.filter((x) => x.r.code !== 0);
  expect(winners, `a: ${a.stderr} b: ${b.stderr}`).toHaveLength(1);
  expect(losers).toHaveLength(1);
  const loser = losers[0]!;
  expect(loser.r.code).toBe(6);
  expect(loser.r.stderr.trim().split("\n")).toHaveLength(1);
  expect(loser.r.stderr).toMatch(/changed|conflict|someone else/i);
  // The loser's content is not silently lost: the message says it stays on the local disk.
  expect(loser.r.stderr).toContain(`${loser.file} was not uploaded and is unchanged on your disk`);
  expect((await stat(path.join(work, loser.file))).size).toBe(48 * MiB);

  const versions = await json<{ versions: { number: number }[] }>(["versions", "/e2e/data/race.bin"]);
  expect(versions.versions).toHaveLength(2);
  await ok(["get", "/e2e/data/race.bin", "race.out"]);
  expect(await sha256File(path.join(work, "race.out"))).toBe(await sha256File(path.join(work, winners[0]!.file)));
});

test("an interrupted put resumes without re-sending the chunks it had sent", async () => {
  await randomFile(path.join(work, "resume.bin"), 192 * MiB);
  const journals = path.join(configDir, "uploads");
  // The race's loser keeps its journal (its receipts stay usable): watch for a new one.
  const journalNames = async () =>
    (await readdir(journals).catch(() => [] as string[])).filter((n) => n.endsWith(".json"));
  const before = new Set(await journalNames());
  const child = spawn(process.execPath, [CLI, "put", "resume.bin", "/e2e/data/resume.bin"], {
    cwd: work,
    env: { PATH: process.env.PATH, HOME: work, CUMULUS_CONFIG_DIR: configDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  // Ctrl-C once the first receipts are journaled.
  await expect
    .poll(async () => (await journalNames()).filter((n) => !before.has(n)).length, {
      timeout: 120_000,
      intervals: [100],
    })
    .toBe(1);
  child.kill("SIGINT");
  expect(await exited, stderr).toBe(130);
  expect(stderr.trim()).toBe(
    "cumulus: interrupted: run the same put again to resume; chunks already sent are not sent again",
  );
  expect((await json<unknown[]>(["ls", "/e2e/data"])).some((e) => (e as { name: string }).name === "resume.bin")).toBe(
    false,
  );

  const again = await json<PutJson & { chunksSkipped: number }>(["put", "resume.bin", "/e2e/data/resume.bin"]);
  expect(again.chunksSkipped).toBeGreaterThan(0);
  expect(again.chunksUploaded).toBe(again.chunksTotal - again.chunksSkipped);
  expect(again.bytesUploaded).toBeLessThan(192 * MiB);
  expect((await journalNames()).filter((n) => !before.has(n))).toEqual([]);
  await ok(["get", "/e2e/data/resume.bin", "resume.out"]);
  expect(await sha256File(path.join(work, "resume.out"))).toBe(await sha256File(path.join(work, "resume.bin")));
});

test("bad inputs exit non-zero with one clear line and change nothing", async () => {
  await writeFile(path.join(work, "small.txt"), "small\n");
  await writeFile(path.join(work, "aux"), "reserved on Windows\n");
  const snapshot = async () => JSON.stringify([await json(["ls", "/e2e/data"]), await json(["trash"])]);
  const before = await snapshot();

  const cases: [string[], RegExp, number][] = [
    [["mkdir", "/e2e/data/../escape"], /'\.\.' is not allowed/, 2],
    [["put", "small.txt", "/e2e/data/../escape.txt"], /'\.\.' is not allowed/, 2],
    [["mkdir", "/e2e/data/a\u0001b"], /control characters/, 2],
    [["mkdir", `/e2e/data/${"n".repeat(300)}`], /at most 255 bytes/, 2],
    [["mkdir", "/e2e/data/CON"], /reserved device name/, 2],
    [["put", "aux", "/e2e/data/"], /reserved device name/, 2],
    [["get", "/e2e/data/nope.bin", "nope.out"], /no such file or folder: \/e2e\/data\/nope\.bin/, 5],
    [["rm", "/e2e/data/nope.bin"], /no such file or folder/, 5],
    [["mv", "/e2e/data/nope.bin", "/e2e/data/other.bin"], /no such file or folder/, 5],
    [["stat", "/e2e/nope/deeper"], /no such file or folder/, 5],
    [["put", "no-such-local-file", "/e2e/data/"], /no such local file or folder: no-such-local-file/, 5],
    [["put", "small.txt", "/e2e/no-such-folder/small.txt"], /folder \/e2e\/no-such-folder does not exist/, 5],
    [["restore", "/e2e/data/big.bin", "--version", "99"], /no version 99/, 5],
    [["policy", "set", "/e2e/data", "--replicas", "0"], /--replicas must be a whole number/, 2],
    [["ls", "--bogus-flag"], /unknown option '--bogus-flag'/, 2],
  ];
  for (const [args, message, code] of cases) {
    const r = await fails(args);
    expect(r.stderr, `cumulus ${args.join(" ")}`).toMatch(message);
    expect(r.code, `exit code of cumulus ${args.join(" ")}: ${r.stderr}`).toBe(code);
  }
  expect((await readdir(work)).filter((n) => n === "nope.out" || n.endsWith(".cumulus-partial"))).toEqual([]);

  // NUL cannot travel through argv; the API refuses it the same way.
  const nul = await api(`/fs/list?path=${encodeURIComponent("/e2e/data/a\u0000b")}`);
  expect(nul.status).toBe(400);
  expect(((await nul.json()) as { error: { code: string } }).error.code).toBe("INVALID_PATH");

  // Not logged in, and a bad token.
  const loggedOut = await fails(["ls", "/"], { config: path.join(work, "cfg-empty") });
  expect(loggedOut.code).toBe(3);
  expect(loggedOut.stderr).toMatch(/not logged in/);
  const badToken = await fails(["ls", "/"], {
    env: { CUMULUS_SERVER: cluster.url, CUMULUS_TOKEN: "cmd_" + "x".repeat(43) },
  });
  expect(badToken.code).toBe(3);
  const unreachable = await fails(["ls", "/"], {
    env: { CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "cmd_x" },
  });
  expect(unreachable.code).toBe(7);
  expect(unreachable.stderr).toMatch(/^cumulus: cannot reach the Cumulus server at http:\/\/127\.0\.0\.1:9: /);

  expect(await snapshot()).toBe(before);
});

test("another user cannot read, replace or delete someone else's file", async () => {
  // There is no user-admin API yet: the second account goes straight into the database.
  const email = `e2e-user-${randomUUID().slice(0, 8)}@localhost`;
  const password = randomBytes(12).toString("base64url");
  const db = new pg.Client({ connectionString: (await cluster.clusterFile()).databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO "User" (id, email, name, role, "emailVerified", "updatedAt") VALUES (gen_random_uuid(), $1, 'E2E User', 'user', true, now()) RETURNING id`,
      [email],
    );
    await db.query(
      `INSERT INTO "Account" (id, "accountId", "providerId", "userId", password, "updatedAt") VALUES ($1, $2, 'credential', $3::uuid, $4, now())`,
      [randomUUID(), rows[0]!.id, rows[0]!.id, await hashPassword(password)],
    );
  } finally {
    await db.end();
  }
  const other = path.join(work, "cfg-other");
  await ok(["login", "--server", cluster.url, "--email", email, "--password", password], { config: other });
  const home = (await json<{ home: string }>(["whoami"], { config: other })).home;
  expect(home).toMatch(/^\/home\//);

  await writeFile(path.join(work, "secret.txt"), "admin only\n");
  await ok(["put", "secret.txt", "/e2e/data/secret.txt"]);
  for (const args of [
    ["get", "/e2e/data/secret.txt", "stolen.txt"],
    ["put", "small.txt", "/e2e/data/secret.txt"],
    ["rm", "/e2e/data/secret.txt"],
    ["mv", "/e2e/data/secret.txt", `${home}/secret.txt`],
    ["ls", "/e2e/data"],
  ]) {
    const r = await fails(args, { config: other });
    expect([4, 5], `exit code of ${args.join(" ")}: ${r.stderr}`).toContain(r.code);
  }
  const st = await json<StatJson>(["stat", "/e2e/data/secret.txt"]);
  expect(st.versions).toBe(1);
  await ok(["get", "/e2e/data/secret.txt", "secret.out"]);
  expect(await readFile(path.join(work, "secret.out"), "utf8")).toBe("admin only\n");
  // Their own home works.
  await ok(["put", "small.txt", `${home}/`], { config: other });
  expect((await json<{ name: string }[]>(["ls"], { config: other })).map((e) => e.name)).toEqual(["small.txt"]);
});

test("sysinfo --json shows 3 active nodes and nothing under-replicated", async () => {
  const s = await json<{
    nodes: {
      name: string;
      site: string;
      status: string;
      capacityBytes: number;
      usedBytes: number;
      availableBytes: number;
      full: boolean;
      chunks: number;
    }[];
    underReplicated: number;
  }>(["sysinfo"]);
  // The three nodes share this machine's disk: what each can still store is its free space.
  const disk = await statfs(work);
  const diskFree = disk.bavail * disk.bsize;
  expect(s.nodes.map((n) => [n.name, n.site, n.status]).sort()).toEqual([
    ["branch-1", "branch", "active"],
    ["hq-1", "hq", "active"],
    ["hq-2", "hq", "active"],
  ]);
  for (const n of s.nodes) {
    expect(n.capacityBytes).toBeGreaterThan(0);
    expect(n.chunks).toBeGreaterThan(0);
    expect(n.usedBytes).toBeGreaterThan(0);
    expect(n.full).toBe(false);
    expect(n.availableBytes).toBeLessThanOrEqual(n.capacityBytes - n.usedBytes);
    // Within 10 %: other programs write to the disk between the heartbeat and this statfs.
    expect(Math.abs(n.availableBytes - diskFree)).toBeLessThan(diskFree * 0.1 + 64 * MiB);
  }
  expect(s.underReplicated).toBe(0);
  const human = await ok(["sysinfo"]);
  expect(human).toMatch(/^Nodes: 3 of 3 active/m);
  expect(human).toMatch(/^hq-1\s+hq\s+active\s+/m);
});

test("policy set --replicas 3 on a folder: new files there get 3 replicas per chunk", async () => {
  await ok(["mkdir", "/e2e/triple"]);
  const p = await json(["policy", "set", "/e2e/triple", "--replicas", "3"]);
  expect(p).toMatchObject({ effective: { replicas: 3 }, inheritedFrom: "/e2e/triple" });
  expect(await json(["policy", "get", "/e2e/triple"])).toMatchObject({ effective: { replicas: 3 } });
  await randomFile(path.join(work, "triple.bin"), 24 * MiB);
  await ok(["put", "triple.bin", "/e2e/triple/"]);
  const st = await json<StatJson>(["stat", "/e2e/triple/triple.bin"]);
  expect(st.chunks.length).toBeGreaterThan(0);
  for (const c of st.chunks)
    expect(new Set(c.replicas.map((r) => r.node))).toEqual(new Set(["hq-1", "hq-2", "branch-1"]));
  expect(p).toMatchObject({ warning: null });
});

test("a policy the nodes cannot follow is set, with a warning that says what it does and what to do", async () => {
  await ok(["mkdir", "/e2e/too-many"]);
  const r = await cumulus(["policy", "set", "/e2e/too-many", "--replicas", "5"]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^replicas\s+5\s+5$/m);
  expect(r.stderr).toBe(
    "cumulus: warning: only 3 eligible storage nodes are active for 5 replicas: uploads under /e2e/too-many are " +
      "refused, and what is stored there stays under-replicated, until 2 more join or the replica count is lowered\n",
  );
  await writeFile(path.join(work, "refused.txt"), "no room for 5 copies\n");
  const refused = await fails(["put", "refused.txt", "/e2e/too-many/"]);
  expect(refused.stderr).toMatch(/needs 5 replicas but only 3 eligible storage nodes are active/);
  // Back within what the nodes can do: no warning, and the upload goes through.
  const back = await cumulus(["policy", "set", "/e2e/too-many", "--replicas", "3", "--json"]);
  expect(back.stderr).toBe("");
  expect(JSON.parse(back.stdout)).toMatchObject({ effective: { replicas: 3 }, warning: null });
  await ok(["put", "refused.txt", "/e2e/too-many/"]);
});

test("put and get of folders are recursive", async () => {
  const src = path.join(work, "tree");
  await mkdir(path.join(src, "sub", "deeper"), { recursive: true });
  await mkdir(path.join(src, "empty"), { recursive: true });
  await writeFile(path.join(src, "a.txt"), "a\n");
  await writeFile(path.join(src, "sub", "b.txt"), "b\n");
  await randomFile(path.join(src, "sub", "deeper", "c.bin"), 3 * MiB);
  const put = await json(["put", "tree", "/e2e/"]);
  expect(put).toMatchObject({ bytesTotal: 3 * MiB + 4 });
  expect(await json(["ls", "/e2e/tree"])).toEqual([
    expect.objectContaining({ name: "empty", type: "folder" }),
    expect.objectContaining({ name: "sub", type: "folder" }),
    expect.objectContaining({ name: "a.txt", type: "file", size: 2 }),
  ]);
  await ok(["get", "/e2e/tree", "tree-copy"]);
  expect(await readFile(path.join(work, "tree-copy", "sub", "b.txt"), "utf8")).toBe("b\n");
  expect(await sha256File(path.join(work, "tree-copy", "sub", "deeper", "c.bin"))).toBe(
    await sha256File(path.join(src, "sub", "deeper", "c.bin")),
  );
  expect((await stat(path.join(work, "tree-copy", "empty"))).isDirectory()).toBe(true);
});

test("1 GiB round trip (CUMULUS_E2E_LARGE=1)", async () => {
  test.skip(process.env.CUMULUS_E2E_LARGE !== "1", "set CUMULUS_E2E_LARGE=1 to run the 1 GiB round trip");
  test.setTimeout(1_200_000);
  const size = 1024 * MiB;
  await ok(["mkdir", "-p", "/e2e/large"]);
  await randomFile(path.join(work, "huge.bin"), size);
  const put = await json<PutJson>(["put", "huge.bin", "/e2e/large/huge.bin"]);
  expect(put).toMatchObject({ bytesTotal: size, bytesUploaded: size });
  await ok(["get", "/e2e/large/huge.bin", "huge.out"]);
  expect(await sha256File(path.join(work, "huge.out"))).toBe(await sha256File(path.join(work, "huge.bin")));
  await rm(path.join(work, "huge.bin"));
  await rm(path.join(work, "huge.out"));
});

test("logout revokes the token and forgets it", async () => {
  const t = await token();
  await ok(["logout"]);
  const cfg = JSON.parse(await readFile(path.join(configDir, "config.json"), "utf8"));
  expect(cfg.token).toBeUndefined();
  expect(cfg.server).toBe(cluster.url);
  expect((await fails(["ls", "/"])).code).toBe(3);
  // The token itself no longer works anywhere.
  const r = await fails(["ls", "/"], { env: { CUMULUS_SERVER: cluster.url, CUMULUS_TOKEN: t } });
  expect(r.code).toBe(3);
});
