import net from "node:net";
import { rm } from "node:fs/promises";
import path from "node:path";
import { test, expect } from "@playwright/test";
import { TestCluster, pidAlive, runBoxExpectingFailure } from "../fixtures/cluster.ts";
import { signInPage } from "../fixtures/page.ts";
import { freePort, freePortRange } from "../fixtures/ports.ts";

test.describe.configure({ mode: "serial" });

let cluster: TestCluster;

test.beforeAll(async () => {
  cluster = await TestCluster.create();
  await cluster.start();
});

test.afterAll(async () => {
  await cluster?.destroy();
  for (const suffix of ["-other", "-baddb"]) await rm(cluster.dataDir + suffix, { recursive: true, force: true });
});

test("starts PostgreSQL, the control plane, its worker and three storage nodes in two sites", async () => {
  const { status, body } = await cluster.health();
  expect(status).toBe(200);
  expect(body.database).toBe("ok");
  expect(body.nodes).toEqual({ active: 3, total: 3 });

  const file = await cluster.clusterFile();
  const byRole = (role: string) => file.processes.filter((p) => p.role === role);
  expect(byRole("control")).toHaveLength(1);
  expect(byRole("worker")).toHaveLength(1);
  const nodes = byRole("storage-node");
  expect(nodes.map((n) => [n.name, n.site]).sort()).toEqual([
    ["branch-1", "branch"],
    ["hq-1", "hq"],
    ["hq-2", "hq"],
  ]);
  for (const p of file.processes) {
    expect(p.pid, `${p.name} has a pid`).toBeGreaterThan(0);
    expect(pidAlive(p.pid!), `${p.name} is alive`).toBe(true);
  }
  for (const n of nodes) expect(n.ports.http).toBeGreaterThan(0);
  expect(cluster.admin?.email).toBe("admin@localhost");
  expect(cluster.admin?.password.length).toBeGreaterThanOrEqual(12);
});

test('the admin overview renders the cluster ("/" sends a signed-out visitor to sign in)', async ({
  page,
  context,
}) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(cluster.url);
  await expect(page).toHaveURL(/\/sign-in$/);
  // Sign in as the first admin through the API; the browser keeps the session cookie.
  await signInPage(page, cluster.url, cluster.admin!.email, cluster.admin!.password);
  expect((await context.cookies(cluster.url)).some((c) => c.name === "cumulus.session_token")).toBe(true);
  await page.goto(`${cluster.url}/admin`);
  await expect(page.getByRole("heading", { name: "Cluster overview" })).toBeVisible();
  await expect(page.getByTestId("nodes-status")).toHaveText("3 of 3 active");
  await expect(page.getByRole("link", { name: "branch-1" })).toBeVisible();
  await page.screenshot({
    path: path.join(import.meta.dirname, "..", "screenshots", "cluster-status.png"),
    fullPage: true,
  });
  expect(errors).toEqual([]);
});

test("a killed storage node is reported down within 15 s and comes back with npm run node -- start", async () => {
  const file = await cluster.clusterFile();
  const victim = file.processes.find((p) => p.name === "hq-2")!;
  process.kill(victim.pid!, "SIGKILL");
  const t0 = Date.now();
  await cluster.waitForHealth((h) => h.nodes.active === 2, 15_000);
  expect(Date.now() - t0).toBeLessThan(15_000);
  await expect
    .poll(async () => (await cluster.clusterFile()).processes.find((p) => p.name === "hq-2")?.status)
    .toBe("exited");
  expect(cluster.output).toContain("npm run node -- start hq-2");

  // It stays down: nothing restarts a failed storage server behind the operator's back.
  await new Promise((r) => setTimeout(r, 2_000));
  expect((await cluster.health()).body.nodes.active).toBe(2);

  const r = cluster.nodeCommand("start", "hq-2");
  expect(r.status, r.stderr).toBe(0);
  await cluster.waitForHealth((h) => h.nodes.active === 3, 30_000);
  const again = (await cluster.clusterFile()).processes.find((p) => p.name === "hq-2")!;
  expect(again.pid).not.toBe(victim.pid);

  const dup = cluster.nodeCommand("start", "hq-2");
  expect(dup.status).not.toBe(0);
  expect(dup.stderr).toContain("already running");
  const unknown = cluster.nodeCommand("start", "nope-9");
  expect(unknown.status).not.toBe(0);
  expect(unknown.stderr).toContain("no storage node named nope-9");
});

test("a killed control plane is restarted by the box", async () => {
  const control = (await cluster.clusterFile()).processes.find((p) => p.role === "control")!;
  process.kill(control.pid!, "SIGKILL");
  await expect
    .poll(async () => (await cluster.clusterFile()).processes.find((p) => p.role === "control")?.pid, {
      timeout: 30_000,
    })
    .not.toBe(control.pid);
  await cluster.waitForHealth((h) => h.nodes.active === 3, 60_000);
});

test("Ctrl-C stops every process; a second start reuses the database and the admin", async () => {
  const before = await cluster.clusterFile();
  const firstPassword = cluster.admin!.password;
  expect(await cluster.stop()).toBe(0);
  for (const p of before.processes) {
    if (p.pid) expect(pidAlive(p.pid), `${p.name} stopped`).toBe(false);
  }

  await cluster.start();
  expect(cluster.output).not.toContain("applied");
  expect(cluster.admin).toEqual({ email: "admin@localhost", password: firstPassword });
  const { body } = await cluster.health();
  expect(body.nodes).toEqual({ active: 3, total: 3 });
});

test("bad configuration fails with one line naming the problem", async () => {
  // Port in use.
  const blocker = net.createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, "0.0.0.0", () => r()));
  try {
    const r = runBoxExpectingFailure({
      ...cluster.env,
      CUMULUS_DATA_DIR: cluster.dataDir + "-other",
      PORT: String(port),
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(new RegExp(`port ${port} .*in use`));
  } finally {
    blocker.close();
  }

  // Unwritable data dir (even root cannot create directories under /proc).
  const unwritable = runBoxExpectingFailure({
    ...cluster.env,
    CUMULUS_DATA_DIR: "/proc/cumulus-data",
    PORT: String(await freePort()),
  });
  expect(unwritable.status).not.toBe(0);
  expect(unwritable.stderr.trim().split("\n").at(-1)).toMatch(/data directory \/proc\/cumulus-data is not writable/);

  // Wrong DATABASE_URL.
  const badDb = runBoxExpectingFailure({
    ...cluster.env,
    CUMULUS_DATA_DIR: cluster.dataDir + "-baddb",
    PORT: String(await freePort()),
    CUMULUS_NODE_BASE_PORT: String(await freePortRange(4)),
    DATABASE_URL: `postgresql://cumulus:wrong@127.0.0.1:${await freePort()}/cumulus`,
  });
  expect(badDb.status).not.toBe(0);
  expect(badDb.stderr.trim().split("\n").at(-1)).toMatch(/DATABASE_URL: cannot reach PostgreSQL/);

  // A second box on the same data dir is refused rather than corrupting it.
  const second = runBoxExpectingFailure({ ...cluster.env, PORT: String(await freePort()) });
  expect(second.status).not.toBe(0);
  expect(second.stderr).toContain("already running");
});
