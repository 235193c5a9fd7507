import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test, expect } from "@playwright/test";
import { TestCluster, repoRoot } from "../fixtures/cluster.ts";
import { CLI, snapshot, startAgent, waitForSameTree, type AgentProc } from "../fixtures/agent.ts";

// Two real `cumulus sync` processes on separate folders against a real cluster in a box:
// what one side does shows up, byte for byte, on the other; conflicts keep both versions;
// kill -9 mid-transfer leaves no partial or duplicate files.

test.describe.configure({ mode: "serial", timeout: 300_000 });

const REMOTE = "sync-e2e";
let cluster: TestCluster;
let work: string;
let configDir: string;
let dirA: string;
let dirB: string;
let a: AgentProc | null = null;
let b: AgentProc | null = null;

const agentA = () => startAgent({ localDir: dirA, remote: REMOTE, configDir, device: "alpha" });
const agentB = () => startAgent({ localDir: dirB, remote: REMOTE, configDir, device: "beta" });

function cumulus(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: work, CUMULUS_CONFIG_DIR: configDir },
    encoding: "utf8",
  });
  expect(r.status, `cumulus ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

async function api<T>(route: string): Promise<T> {
  const { token } = JSON.parse(await readFile(path.join(configDir, "config.json"), "utf8")) as { token: string };
  const res = await fetch(`${cluster.url}/api/v1${route}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

type Feed = { cursor: number; changes: { kind: string; entryId: string; name?: string }[] };

/** Waits until an upload journal in `dir` holds at least one chunk's receipts. */
async function waitForJournalReceipts(dir: string) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(".json")) continue;
      const j = JSON.parse(await readFile(path.join(dir, name), "utf8").catch(() => "{}")) as {
        receipts?: Record<string, unknown>;
      };
      if (Object.keys(j.receipts ?? {}).length > 0) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no upload journal with receipts appeared in ${dir}`);
}

/** Waits until `pred` holds for an agent's /api/status. */
async function waitStatus(
  agent: AgentProc,
  pred: (s: { state: string; progress: { bytesDone: number; current: string[] } }) => boolean,
) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const s = await agent.api<{ state: string; progress: { bytesDone: number; current: string[] } }>("/api/status");
    if (s && pred(s)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`status condition not reached:\n${agent.output}`);
}

function noPartials(snap: Record<string, string>): void {
  expect(Object.keys(snap).filter((p) => p.includes(".cumulus-partial") || p.includes("/.cumulus-dl-"))).toEqual([]);
}

test.beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "cumulus-sync-e2e-"));
  configDir = path.join(work, "config");
  dirA = path.join(work, "A");
  dirB = path.join(work, "B");
  await mkdir(dirA);
  await mkdir(dirB);
  cluster = await TestCluster.create();
  await cluster.start();
  cumulus(["login", "--server", cluster.url, "--email", cluster.admin!.email, "--password", cluster.admin!.password]);
});

test.afterAll(async () => {
  await a?.kill9();
  await b?.kill9();
  await cluster?.destroy();
  if (process.env.CUMULUS_E2E_KEEP !== "1") await rm(work, { recursive: true, force: true });
});

test("create, modify, delete, rename and move on one side arrive on the other", async () => {
  a = agentA();
  b = agentB();
  await mkdir(path.join(dirA, "docs", "deep"), { recursive: true });
  await writeFile(path.join(dirA, "docs", "readme.md"), "# hello\n");
  await writeFile(path.join(dirA, "docs", "deep", "data.bin"), randomBytes(300_000));
  await writeFile(path.join(dirA, "top.txt"), "top");
  await writeFile(path.join(dirA, "empty.txt"), "");
  let snap = await waitForSameTree([dirA, dirB], { until: (s) => "/docs/deep/data.bin" in s && "/empty.txt" in s });
  expect(Object.keys(snap)).toEqual([
    "/docs/",
    "/docs/deep/",
    "/docs/deep/data.bin",
    "/docs/readme.md",
    "/empty.txt",
    "/top.txt",
  ]);

  // Edits and deletes from B.
  await appendFile(path.join(dirB, "docs", "readme.md"), "more\n");
  await rm(path.join(dirB, "top.txt"));
  await waitForSameTree([dirA, dirB], {
    until: (s) => !("/top.txt" in s) && s["/docs/readme.md"] !== undefined,
  });
  expect(await readFile(path.join(dirA, "docs", "readme.md"), "utf8")).toBe("# hello\nmore\n");

  // A folder rename is one move on the server, not delete + upload.
  const before = (await api<Feed>("/changes?cursor=0")).cursor;
  await rename(path.join(dirA, "docs"), path.join(dirA, "papers"));
  await waitForSameTree([dirA, dirB], { until: (s) => "/papers/deep/data.bin" in s && !("/docs/" in s) });
  const feed = await api<Feed>(`/changes?cursor=${before}`);
  expect(feed.changes.map((c) => [c.kind, c.name])).toEqual([["move", "papers"]]);

  // Move a file between folders, and a folder into another, on B.
  await rename(path.join(dirB, "empty.txt"), path.join(dirB, "papers", "deep", "empty.txt"));
  await mkdir(path.join(dirB, "archive"));
  await rename(path.join(dirB, "papers", "deep"), path.join(dirB, "archive", "deep"));
  snap = await waitForSameTree([dirA, dirB], { until: (s) => "/archive/deep/empty.txt" in s });
  expect(Object.keys(snap)).toEqual([
    "/archive/",
    "/archive/deep/",
    "/archive/deep/data.bin",
    "/archive/deep/empty.txt",
    "/papers/",
    "/papers/readme.md",
  ]);

  // Delete a whole folder.
  await rm(path.join(dirA, "archive"), { recursive: true });
  snap = await waitForSameTree([dirA, dirB], { until: (s) => !("/archive/" in s) });
  expect(Object.keys(snap)).toEqual(["/papers/", "/papers/readme.md"]);
});

test("a file put with the CLI appears in both folders", async () => {
  const src = path.join(work, "from-cli.txt");
  await writeFile(src, "uploaded by cumulus put\n");
  cumulus(["put", src, `${REMOTE}/papers/from-cli.txt`]);
  await waitForSameTree([dirA, dirB], { until: (s) => "/papers/from-cli.txt" in s });
  expect(await readFile(path.join(dirB, "papers", "from-cli.txt"), "utf8")).toBe("uploaded by cumulus put\n");
});

test("names a Mac writes (NFD) sync as the server's NFC names, and edits, renames and deletes of them follow", async () => {
  // A Linux disk keeps names byte for byte: A holds the NFD spelling a Mac would have
  // written, the server and B the NFC one. Every later operation on A must find the NFD item.
  const folderNfd = "Cafe\u0301";
  const fileNfd = "re\u0301sume\u0301.txt";
  const folderNfc = folderNfd.normalize("NFC");
  const fileNfc = fileNfd.normalize("NFC");
  const read = (p: string) => readFile(p, "utf8").catch(() => null);
  const poll = (f: () => Promise<unknown>) => expect.poll(f, { timeout: 120_000, intervals: [250] });
  await mkdir(path.join(dirA, folderNfd));
  await writeFile(path.join(dirA, folderNfd, fileNfd), "v1 from A");
  await poll(() => read(path.join(dirB, folderNfc, fileNfc))).toBe("v1 from A");

  await writeFile(path.join(dirA, folderNfd, fileNfd), "v2 from A");
  await poll(() => read(path.join(dirB, folderNfc, fileNfc))).toBe("v2 from A");
  await writeFile(path.join(dirB, folderNfc, "new-on-b.txt"), "into the NFD folder");
  await writeFile(path.join(dirB, folderNfc, fileNfc), "v3 from B");
  await poll(() => read(path.join(dirA, folderNfd, fileNfd))).toBe("v3 from B");
  await poll(() => read(path.join(dirA, folderNfd, "new-on-b.txt"))).toBe("into the NFD folder");
  // Replaced and filled in place: no NFC twin appeared beside the NFD items on A.
  expect(await readdir(dirA)).not.toContain(folderNfc);
  expect((await readdir(path.join(dirA, folderNfd))).sort()).toEqual([fileNfd, "new-on-b.txt"].sort());

  await rename(path.join(dirA, folderNfd, fileNfd), path.join(dirA, folderNfd, "resume.txt"));
  await poll(() => read(path.join(dirB, folderNfc, "resume.txt"))).toBe("v3 from B");
  await rm(path.join(dirA, folderNfd), { recursive: true });
  await waitForSameTree([dirA, dirB], {
    until: (s) => !Object.keys(s).some((k) => k.normalize("NFC").includes(folderNfc)),
  });
});

test("a run of many small files (batched begin, commit and download plans) arrives whole", async () => {
  // 300 files of 1–4 KiB with distinct contents: uploads and download plans travel in batches.
  await mkdir(path.join(dirA, "many"));
  for (let i = 0; i < 300; i++) {
    const body = `small file ${i}\n`.repeat(1 + ((i * 37) % 256));
    await writeFile(path.join(dirA, "many", `f${String(i).padStart(3, "0")}.txt`), body);
  }
  const snap = await waitForSameTree([dirA, dirB], {
    until: (s) => Object.keys(s).filter((p) => p.startsWith("/many/f")).length === 300,
  });
  noPartials(snap);
  expect(await readFile(path.join(dirB, "many", "f123.txt"), "utf8")).toBe(
    "small file 123\n".repeat(1 + ((123 * 37) % 256)),
  );
  const listed = await api<{ entries: { name: string }[] }>(
    `/fs/list?path=${encodeURIComponent(`${(await api<{ home: string }>("/auth/whoami")).home}/${REMOTE}/many`)}`,
  );
  expect(listed.entries.length).toBe(300);
  await rm(path.join(dirA, "many"), { recursive: true });
  await waitForSameTree([dirA, dirB], { until: (s) => !("/many/" in s) });
  // Deleted as one folder (one trash item), not as 300 files and then the folder.
  const trash = await api<{ items: { originalPath: string; type: string }[] }>("/fs/trash");
  const fromMany = trash.items.filter((t) => t.originalPath.includes(`/${REMOTE}/many`));
  expect(fromMany).toEqual([expect.objectContaining({ type: "folder" })]);
});

test("a name the server refuses is reported with a fix, and everything else still syncs", async () => {
  await writeFile(path.join(dirA, "bad|name.txt"), "pipe");
  await writeFile(path.join(dirA, "good.txt"), "fine");
  // A keeps the bad file and B never gets it, so the folders differ by exactly that one.
  await expect.poll(async () => "/good.txt" in (await snapshot(dirB)), { timeout: 120_000 }).toBe(true);
  const deadline = Date.now() + 120_000;
  let errors: { path: string | null; code: string; fix: string }[] = [];
  while (Date.now() < deadline) {
    errors = (await a!.api<{ items: typeof errors }>("/api/errors"))?.items ?? [];
    if (errors.some((e) => e.code === "INVALID_NAME")) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(errors.find((e) => e.code === "INVALID_NAME")).toMatchObject({
    path: "/bad|name.txt",
    fix: expect.stringMatching(/Rename/),
  });
  expect(await readFile(path.join(dirB, "good.txt"), "utf8")).toBe("fine");
  // Renamed to something allowed, it syncs and the error goes away.
  await rename(path.join(dirA, "bad|name.txt"), path.join(dirA, "bad-name.txt"));
  await waitForSameTree([dirA, dirB], { until: (s) => "/bad-name.txt" in s });
  await expect
    .poll(async () => (await a!.api<{ items: unknown[] }>("/api/errors"))?.items.length, { timeout: 60_000 })
    .toBe(0);
  await rm(path.join(dirA, "bad-name.txt"));
  await rm(path.join(dirA, "good.txt"));
  await waitForSameTree([dirA, dirB], { until: (s) => !("/good.txt" in s) && !("/bad-name.txt" in s) });
});

test("the same file edited on both sides while one agent is stopped keeps both versions", async () => {
  await writeFile(path.join(dirA, "plan.txt"), "v0\n");
  await waitForSameTree([dirA, dirB], { until: (s) => "/plan.txt" in s });
  expect(await b!.stop()).toBe(0);
  await writeFile(path.join(dirA, "plan.txt"), "edited by alpha\n");
  await writeFile(path.join(dirB, "plan.txt"), "edited by beta\n");
  // Let A upload its edit first so that B's is the one that conflicts.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await a!.api<{ state: string }>("/api/status");
    const ls = JSON.parse(cumulus(["ls", REMOTE, "--json"])) as { name: string; version: number | null }[];
    if (s?.state === "up-to-date" && ls.find((e) => e.name === "plan.txt")?.version === 2) break;
    if (Date.now() > deadline) throw new Error(`A did not upload its edit:\n${a!.output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  b = agentB();
  const snap = await waitForSameTree([dirA, dirB], {
    until: (s) => Object.keys(s).some((p) => p.includes("conflicted copy")),
  });
  const copies = Object.keys(snap).filter((p) => p.startsWith("/plan"));
  expect(copies).toHaveLength(2);
  const copy = copies.find((p) => p.includes("conflicted copy"))!;
  expect(copy).toMatch(/^\/plan \(conflicted copy beta \d{4}-\d{2}-\d{2}\)\.txt$/);
  expect(await readFile(path.join(dirA, "plan.txt"), "utf8")).toBe("edited by alpha\n");
  expect(await readFile(path.join(dirA, copy), "utf8")).toBe("edited by beta\n");
});

test("kill -9 mid-upload and restart: the file arrives once, whole", async () => {
  const big = randomBytes(96 * 1024 * 1024);
  await writeFile(path.join(dirA, "big-up.bin"), big);
  // Kill once the upload journal on disk holds receipts (it is flushed every 500 ms or
  // more), and the upload is still running: guessing from bytes sent races the flush.
  await waitStatus(a!, (s) => s.progress.current.includes("/big-up.bin") && s.progress.bytesDone > 0);
  await waitForJournalReceipts(path.join(a!.stateDir, "uploads"));
  await a!.kill9();
  a = agentA();
  const snap = await waitForSameTree([dirA, dirB], { until: (s) => "/big-up.bin" in s, timeoutMs: 240_000 });
  noPartials(snap);
  expect(Object.keys(snap).filter((p) => p.includes("big-up"))).toEqual(["/big-up.bin"]);
  expect((await readFile(path.join(dirB, "big-up.bin"))).equals(big)).toBe(true);
  // The restarted upload resumed: chunks sent before the kill were not sent again.
  expect(a.output).toMatch(/upload .*big-up\.bin.*, [1-9]\d* already on the server/);
});

test("kill -9 mid-download and restart: no partial file is left and the file is whole", async () => {
  const big = randomBytes(96 * 1024 * 1024);
  const src = path.join(work, "big-down.bin");
  await writeFile(src, big);
  cumulus(["put", src, `${REMOTE}/big-down.bin`]);
  // A third of the way into B's download (its partial file holds chunks), kill it.
  await waitStatus(b!, (s) => s.progress.current.includes("/big-down.bin") && s.progress.bytesDone > 32 * 1024 * 1024);
  // Downloads land in a hidden `.cumulus-dl-…` file (one `.cumulus-partial` suffix while incomplete).
  expect((await readdir(dirB)).some((n) => /^\.cumulus-dl-[0-9a-f]+\.cumulus-partial$/.test(n))).toBe(true);
  await b!.kill9();
  b = agentB();
  const snap = await waitForSameTree([dirA, dirB], { until: (s) => "/big-down.bin" in s, timeoutMs: 240_000 });
  noPartials(snap);
  expect((await readFile(path.join(dirB, "big-down.bin"))).equals(big)).toBe(true);
  expect(Object.keys(await snapshot(dirB)).filter((p) => p.includes("big-down"))).toEqual(["/big-down.bin"]);
  // The restarted download kept the chunks the killed one had written.
  expect(b.output).toMatch(/download .*big-down\.bin.*, [1-9]\d* already here/);
  expect(await a!.stop()).toBe(0);
  expect(await b.stop()).toBe(0);
});

test("edits made while the server is down are reconciled when it is back", async () => {
  a = agentA();
  b = agentB();
  await writeFile(path.join(dirA, "before.txt"), "synced before the outage");
  await waitForSameTree([dirA, dirB], { until: (s) => "/before.txt" in s });

  expect(await cluster.stop()).toBe(0);
  await writeFile(path.join(dirA, "offline-a.txt"), "written by alpha while offline");
  await writeFile(path.join(dirB, "offline-b.txt"), "written by beta while offline");
  await rm(path.join(dirB, "before.txt"));
  await expect
    .poll(async () => (await a!.api<{ state: string }>("/api/status"))?.state, { timeout: 120_000 })
    .toMatch(/offline|error/);
  const errors = (await a!.api<{ items: { code: string; fix: string; retrying: boolean }[] }>("/api/errors"))!.items;
  expect(errors.some((e) => e.code === "NETWORK" && e.retrying)).toBe(true);

  await cluster.start();
  const snap = await waitForSameTree([dirA, dirB], {
    until: (s) => "/offline-a.txt" in s && "/offline-b.txt" in s && !("/before.txt" in s),
    timeoutMs: 240_000,
  });
  noPartials(snap);
  expect(await readFile(path.join(dirB, "offline-a.txt"), "utf8")).toBe("written by alpha while offline");
  expect(await readFile(path.join(dirA, "offline-b.txt"), "utf8")).toBe("written by beta while offline");
  await expect
    .poll(async () => (await a!.api<{ state: string }>("/api/status"))?.state, { timeout: 60_000 })
    .toBe("up-to-date");
  expect(await a!.stop()).toBe(0);
  expect(await b!.stop()).toBe(0);
});
