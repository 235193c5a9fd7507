import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import { test, expect } from "@playwright/test";
import type pg from "pg";
import { TestCluster } from "../fixtures/cluster.ts";
import { useCookie, watchErrors } from "../fixtures/page.ts";
import { api, createUser, database, signIn, signInRaw, trpc, trpcOk, type Cookie } from "../fixtures/web.ts";

// The admin pages against a real cluster in a box: overview, node detail and drain,
// users, groups, replication policies, IP rules (a denied address can neither sign in
// nor fetch data), the public area and the audit log of all of it.

test.describe.configure({ mode: "serial" });

const shots = path.join(import.meta.dirname, "..", "screenshots");
const PW = "a long enough password";
// Statuses these specs provoke on purpose (bad input, refusals, conflicts, rate limits).
const REFUSALS = [400, 401, 403, 409, 429];

let cluster: TestCluster;
let db: pg.Client;
let admin: Cookie;
let adminHome: string;

/** Uploads `bytes` as one chunk through /api/v1 and the storage nodes, as the CLI does. */
async function upload(cookie: Cookie, filePath: string, bytes: Buffer): Promise<void> {
  const id = createHash("sha256").update(bytes).digest("hex");
  const begin = await api<{
    uploadId: string;
    missing: { id: string; pipeline: { url: string }[]; token: string }[];
  }>(cluster, { cookie }, "POST", "/uploads", {
    path: filePath,
    size: bytes.length,
    chunks: [{ id, size: bytes.length }],
    baseVersion: null,
    parents: true,
  });
  expect(begin.status, JSON.stringify(begin.body)).toBe(200);
  const receipts: Record<string, string[]> = {};
  for (const m of begin.body.missing) {
    const put = await fetch(`${m.pipeline[0]!.url}/chunks/${m.id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${m.token}`, "content-type": "application/octet-stream" },
      body: new Uint8Array(bytes),
    });
    expect(put.status, await put.clone().text()).toBe(201);
    receipts[m.id] = ((await put.json()) as { receipts: string[] }).receipts;
  }
  const commit = await api(cluster, { cookie }, "POST", `/uploads/${begin.body.uploadId}/commit`, { receipts });
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
}

test.beforeAll(async () => {
  cluster = await TestCluster.create();
  await cluster.start();
  db = await database(cluster);
  admin = await signIn(cluster, cluster.admin!.email, cluster.admin!.password);
  adminHome = (await api<{ home: string }>(cluster, { cookie: admin }, "GET", "/auth/whoami")).body.home;
});

test.afterAll(async () => {
  await db?.end().catch(() => undefined);
  await cluster?.destroy();
});

test.beforeEach(async ({ context }) => {
  await useCookie(context, cluster.url, admin);
});

test("the admin overview shows sites, nodes, capacity, replication health and repair activity", async ({ page }) => {
  const errors = watchErrors(page, REFUSALS);
  await upload(admin, `${adminHome}/Reports/q1.bin`, randomBytes(200_000));
  await page.goto(`${cluster.url}/files`);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { name: "Cluster overview" })).toBeVisible();
  await expect(page.getByTestId("database-status")).toHaveText("ok");
  await expect(page.getByTestId("nodes-status")).toHaveText("3 of 3 active");
  await expect(page.getByTestId("chunk-count")).toHaveText("1");
  await expect(page.getByTestId("under-replicated")).toHaveText("0");
  await expect(page.getByTestId("over-replicated")).toHaveText("0");
  await expect(page.getByTestId("repair-state")).toBeVisible();
  const nodes = page.getByRole("table", { name: "Storage nodes" });
  for (const name of ["branch-1", "hq-1", "hq-2"]) await expect(nodes.getByRole("link", { name })).toBeVisible();
  await expect(page.getByRole("list").filter({ hasText: "hq" }).first()).toBeVisible();
  // The per-node chart has drawn its bars.
  await expect(
    page
      .getByRole("figure", { name: "Used and free bytes per storage node" })
      .locator(".recharts-bar-rectangle")
      .first(),
  ).toBeVisible();
  await page.screenshot({ path: path.join(shots, "admin-overview.png"), fullPage: true });
  expect(errors).toEqual([]);
});

test("a node's detail page shows heartbeat, load, capacity, epoch; draining asks first and is audited", async ({
  page,
}) => {
  const errors = watchErrors(page, REFUSALS);
  await page.goto(`${cluster.url}/admin`);
  await page.getByRole("table", { name: "Storage nodes" }).getByRole("link", { name: "hq-2" }).click();
  await expect(page.getByRole("heading", { name: /hq-2/ })).toBeVisible();
  await expect(page.getByTestId("heartbeat-age")).toHaveText(/ago$/);
  await expect(page.getByTestId("node-epoch")).toHaveText(/^\d+$/);
  await expect(page.getByRole("meter")).toBeVisible();
  await page.screenshot({ path: path.join(shots, "node-detail.png"), fullPage: true });

  await page.getByRole("button", { name: "Drain" }).click();
  const dialog = page.getByRole("alertdialog");
  await expect(dialog).toContainText("Drain this node?");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  expect((await db.query(`SELECT status FROM "StorageNode" WHERE name = 'hq-2'`)).rows[0].status).toBe("active");

  await page.getByRole("button", { name: "Drain" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Drain" }).click();
  await expect(page.getByRole("heading", { name: /hq-2/ })).toContainText("draining");
  expect((await db.query(`SELECT status FROM "StorageNode" WHERE name = 'hq-2'`)).rows[0].status).toBe("draining");
  // Heartbeats do not undo it.
  await page.waitForTimeout(2_500);
  expect((await db.query(`SELECT status FROM "StorageNode" WHERE name = 'hq-2'`)).rows[0].status).toBe("draining");

  await page.getByRole("button", { name: "Cancel drain" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Cancel drain" }).click();
  await expect(page.getByRole("heading", { name: /hq-2/ })).toContainText("active");
  const audit = await db.query(
    `SELECT action FROM "AuditEvent" WHERE target = 'hq-2' AND action IN ('node.drain', 'node.activate', 'node.decommission') ORDER BY id`,
  );
  expect(audit.rows.map((r) => r.action)).toEqual(["node.drain", "node.activate"]);
  expect(errors).toEqual([]);
});

test("an admin creates a user, disables it (its sign-in fails), enables it and resets its password", async ({
  page,
}) => {
  const errors = watchErrors(page, REFUSALS);
  await page.goto(`${cluster.url}/admin/users`);
  await page.getByRole("button", { name: "New user" }).click();
  const dialog = page.getByRole("dialog", { name: "New user" });
  await dialog.getByLabel("Email", { exact: true }).fill("uma@corp.test");
  await dialog.getByLabel("Name", { exact: true }).fill("Uma Example");
  await dialog.getByLabel("Password", { exact: true }).fill("short");
  await dialog.getByRole("button", { name: "Create user" }).click();
  await expect(dialog.getByRole("alert")).toHaveText(/at least 10 characters/);
  await dialog.getByLabel("Password", { exact: true }).fill(PW);
  await dialog.getByLabel("Quota", { exact: true }).fill("10 GB");
  await dialog.getByRole("button", { name: "Create user" }).click();
  await expect(dialog).toBeHidden();
  const row = page.getByRole("row", { name: /uma@corp\.test/ });
  await expect(row).toContainText("enabled");
  await expect(row).toContainText("10.0 GB");
  await page.screenshot({ path: path.join(shots, "users.png"), fullPage: true });
  await signIn(cluster, "uma@corp.test", PW);

  await row.getByRole("link", { name: "uma@corp.test" }).click();
  await expect(page.getByRole("heading", { name: "uma@corp.test" })).toBeVisible();
  await page.getByRole("button", { name: "Disable account" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Disable" }).click();
  await expect(page.getByRole("button", { name: "Enable account" })).toBeVisible();
  const refused = await signInRaw(cluster, "uma@corp.test", PW);
  expect(refused.status).toBe(403);
  expect(refused.body?.message).toBe("This account is disabled");

  await page.getByRole("button", { name: "Enable account" }).click();
  await expect(page.getByRole("button", { name: "Disable account" })).toBeVisible();
  await page.getByRole("button", { name: "Reset password" }).click();
  const reset = page.getByRole("dialog", { name: "Reset password" });
  await reset.getByLabel("New password", { exact: true }).fill("uma's new password");
  await reset.getByRole("button", { name: "Set password" }).click();
  await expect(reset).toBeHidden();
  expect((await signInRaw(cluster, "uma@corp.test", PW)).status).toBe(401);
  await signIn(cluster, "uma@corp.test", "uma's new password");

  await page.getByLabel("Role", { exact: true }).selectOption("admin");
  await page.getByRole("button", { name: "Save role" }).click();
  await expect(page.getByText("Role set to admin", { exact: true })).toBeVisible();
  const u = await db.query(
    `SELECT role, disabled, "quotaBytes"::text AS quota FROM "User" WHERE email = 'uma@corp.test'`,
  );
  expect(u.rows[0]).toEqual({ role: "admin", disabled: false, quota: String(10 * 1024 ** 3) });
  expect(errors).toEqual([]);
});

test("groups: create one and add and remove a member", async ({ page }) => {
  await createUser(cluster, admin, "walt@corp.test", PW);
  await page.goto(`${cluster.url}/admin/groups`);
  await page.getByLabel("Group name", { exact: true }).fill("engineering");
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByRole("link", { name: "engineering" }).click();
  await page.getByLabel("Add member", { exact: true }).selectOption({ label: "walt@corp.test" });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await expect(page.getByRole("table", { name: "Members" })).toContainText("walt@corp.test");
  const n = await db.query(
    `SELECT count(*)::int AS n FROM "GroupMember" m JOIN "Group" g ON g.id = m."groupId" JOIN "User" u ON u.id = m."userId" WHERE g.name = 'engineering' AND u.email = 'walt@corp.test'`,
  );
  expect(n.rows[0].n).toBe(1);
  await page.getByRole("button", { name: "Remove walt@corp.test from engineering" }).click();
  await expect(page.getByText("No members yet", { exact: true })).toBeVisible();
});

test("the policies page sets 3 replicas on a folder and shows the effective policy and placement", async ({ page }) => {
  const errors = watchErrors(page, REFUSALS);
  const folder = `${adminHome}/Reports`;
  await page.goto(`${cluster.url}/admin/policies`);
  await page.getByLabel("Path", { exact: true }).fill(folder);
  await page.getByRole("button", { name: "Show policy" }).click();
  await expect(page.getByTestId("effective-replicas")).toHaveText("2");
  await expect(page.getByTestId("placement-summary")).toContainText("1 chunks");

  await page.getByLabel("Replicas", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByTestId("effective-replicas")).toHaveText("3");
  // One chunk, under-replicated (2 of 3) until the reconciler copies it.
  await expect(page.getByRole("table", { name: "Replicas per node" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Chunks" })).toContainText(/\/3\)/);
  await page.getByRole("button", { name: "Dismiss" }).first().click();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(shots, "policies.png"), fullPage: true });

  const row = await db.query(
    `SELECT rp.replicas FROM "ReplicationPolicy" rp JOIN "Entry" e ON e.id = rp."entryId" WHERE e.name = 'Reports'`,
  );
  expect(row.rows[0].replicas).toBe(3);
  // What the API reports agrees.
  const policy = await api<{ effective: { replicas: number } }>(
    cluster,
    { cookie: admin },
    "GET",
    `/policy?path=${encodeURIComponent(`${folder}/q1.bin`)}`,
  );
  expect(policy.body.effective.replicas).toBe(3);

  // Invalid combinations are refused with the reason, nothing saved.
  await page.getByLabel("Replicas", { exact: true }).fill("1");
  const required = page.getByRole("group", { name: "Required sites" });
  await required.getByLabel("hq", { exact: true }).check();
  await required.getByLabel("branch", { exact: true }).check();
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /invalid/ })).toBeVisible();
  expect(
    (
      await db.query(
        `SELECT rp.replicas FROM "ReplicationPolicy" rp JOIN "Entry" e ON e.id = rp."entryId" WHERE e.name = 'Reports'`,
      )
    ).rows[0].replicas,
  ).toBe(3);

  // More replicas than active nodes: saved, with a warning that says what follows.
  await required.getByLabel("hq", { exact: true }).uncheck();
  await required.getByLabel("branch", { exact: true }).uncheck();
  await page.getByLabel("Replicas", { exact: true }).fill("4");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByTestId("effective-replicas")).toHaveText("4");
  await expect(page.getByTestId("policy-warning")).toHaveText(
    `only 3 eligible storage nodes are active for 4 replicas: uploads under ${folder} are refused, and what is ` +
      "stored there stays under-replicated, until 1 more join or the replica count is lowered",
  );
  await page.getByLabel("Replicas", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByTestId("effective-replicas")).toHaveText("3");
  await expect(page.getByTestId("policy-warning")).toHaveCount(0);
  expect(errors).toEqual([]);
});

/** What a client would send to pass for an allowed address if the server believed it. */
const FORGED = {
  "x-forwarded-for": "203.0.113.9",
  "x-real-ip": "203.0.113.9",
  "x-cumulus-client-ip": "203.0.113.9",
} as const;

test("a user denied from 127.0.0.1 by an IP rule can neither sign in nor fetch data; removing the rule restores access", async ({
  page,
  browser,
}) => {
  const errors = watchErrors(page, REFUSALS);
  await createUser(cluster, admin, "vera@corp.test", PW);
  const vera = await signIn(cluster, "vera@corp.test", PW);
  const veraHome = (await api<{ home: string }>(cluster, { cookie: vera }, "GET", "/auth/whoami")).body.home;
  await upload(vera, `${veraHome}/notes.txt`, Buffer.from("vera's notes\n"));
  const device = await api<{ token: string }>(cluster, {}, "POST", "/auth/device-tokens", {
    email: "vera@corp.test",
    password: PW,
    deviceName: "vera-cli",
  });
  // A read token issued before the rule, bound to 127.0.0.1.
  const plan = await api<{ chunks: { replicas: { url: string }[]; token: string; id: string }[] }>(
    cluster,
    { token: device.body.token },
    "GET",
    `/downloads?path=${encodeURIComponent(`${veraHome}/notes.txt`)}`,
  );
  expect(plan.status).toBe(200);
  const payload = JSON.parse(Buffer.from(plan.body.chunks[0]!.token.split(".")[1]!, "base64url").toString("utf8"));
  expect(payload.ip).toBe("127.0.0.1");
  // Headers a client writes itself do not move the address a token is bound to.
  const forgedPlan = await fetch(
    `${cluster.url}/api/v1/downloads?path=${encodeURIComponent(`${veraHome}/notes.txt`)}`,
    { headers: { authorization: `Bearer ${device.body.token}`, ...FORGED } },
  );
  expect(forgedPlan.status).toBe(200);
  const forgedToken = ((await forgedPlan.json()) as { chunks: { token: string }[] }).chunks[0]!.token;
  expect(JSON.parse(Buffer.from(forgedToken.split(".")[1]!, "base64url").toString("utf8")).ip).toBe("127.0.0.1");

  // Through the admin page.
  await page.goto(`${cluster.url}/admin/ip-rules`);
  await page.getByLabel("Action", { exact: true }).selectOption("deny");
  await page.getByLabel("Address or CIDR", { exact: true }).fill("127.0.0.1/32");
  await page.getByLabel("Applies to", { exact: true }).selectOption("user");
  await page.getByLabel("User", { exact: true }).selectOption({ label: "vera@corp.test" });
  await page.getByRole("button", { name: "Add rule" }).click();
  const rules = page.getByRole("table", { name: "IP rules" });
  await expect(rules).toContainText("vera@corp.test");
  await expect(rules).toContainText("127.0.0.1/32");

  await page.getByLabel("Address to test", { exact: true }).fill("127.0.0.1");
  await page.getByLabel("As user", { exact: true }).selectOption({ label: "vera@corp.test" });
  await page.getByRole("button", { name: "Test", exact: true }).click();
  await expect(page.getByTestId("ip-test-result")).toContainText("Denied");
  await page.getByLabel("As user", { exact: true }).selectOption({ label: "Anonymous (global rules only)" });
  await page.getByRole("button", { name: "Test", exact: true }).click();
  await expect(page.getByTestId("ip-test-result")).toContainText("Allowed");

  // A global rule that would shut the admin out is not added without a second confirmation.
  await page.getByLabel("Address or CIDR", { exact: true }).fill("127.0.0.0/8");
  await page.getByLabel("Applies to", { exact: true }).selectOption("global");
  await page.getByRole("button", { name: "Add rule" }).click();
  await expect(page.getByText(/would refuse your own address \(127\.0\.0\.1\)/)).toBeVisible();
  await page.getByRole("button", { name: "Cancel" }).click();
  expect(
    (await db.query(`SELECT count(*)::int AS n FROM "IpRule" WHERE "userId" IS NULL AND "groupId" IS NULL`)).rows[0].n,
  ).toBe(0);
  await page.screenshot({ path: path.join(shots, "ip-rules.png"), fullPage: true });

  // Sign-in, in the form and through the API, and the CLI's sign-in.
  const ctx2 = await browser.newContext();
  const p2 = await ctx2.newPage();
  await p2.goto(`${cluster.url}/sign-in`);
  await p2.getByLabel("Email", { exact: true }).fill("vera@corp.test");
  await p2.getByLabel("Password", { exact: true }).fill(PW);
  await p2.getByRole("button", { name: "Sign in" }).click();
  await expect(p2.locator("#sign-in-error")).toHaveText("Sign-in from your address (127.0.0.1) is not allowed");
  await ctx2.close();
  const denied = await signInRaw(cluster, "vera@corp.test", PW);
  expect(denied.status).toBe(403);
  expect(denied.cookie).toBeNull();
  // No proxy is trusted (CUMULUS_TRUSTED_PROXIES unset): a forged X-Forwarded-For,
  // X-Real-IP or our own internal header does not get her past the rule.
  const forgedSignIn = await fetch(`${cluster.url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: cluster.url, ...FORGED },
    body: JSON.stringify({ email: "vera@corp.test", password: PW }),
  });
  expect(forgedSignIn.status).toBe(403);
  expect(forgedSignIn.headers.get("set-cookie") ?? "").not.toContain("session_token=");
  expect(((await forgedSignIn.json()) as { message: string }).message).toContain("127.0.0.1");
  expect(
    (await api(cluster, {}, "POST", "/auth/device-tokens", { email: "vera@corp.test", password: PW, deviceName: "x" }))
      .status,
  ).toBe(403);

  // Data: her session, her device token, tRPC, the gateway and a node with a token issued earlier.
  const list = await api<{ error: { message: string } }>(
    cluster,
    { cookie: vera },
    "GET",
    `/fs/list?path=${encodeURIComponent(veraHome)}`,
  );
  expect(list.status).toBe(403);
  expect(list.body.error.message).toContain("127.0.0.1");
  const forgedList = await fetch(`${cluster.url}/api/v1/fs/list?path=${encodeURIComponent(veraHome)}`, {
    headers: { cookie: vera, ...FORGED },
  });
  expect(forgedList.status).toBe(403);
  const forgedTrpc = await fetch(
    `${cluster.url}/api/trpc/files.list?input=${encodeURIComponent(JSON.stringify({ path: veraHome }))}`,
    { headers: { cookie: vera, origin: cluster.url, ...FORGED } },
  );
  expect(forgedTrpc.status).toBe(403);
  const forgedGw = await fetch(`${cluster.url}/api/gateway/files${veraHome}/notes.txt`, {
    headers: { cookie: vera, ...FORGED },
  });
  expect(forgedGw.status).toBe(403);
  expect(
    (
      await api(
        cluster,
        { token: device.body.token },
        "GET",
        `/downloads?path=${encodeURIComponent(`${veraHome}/notes.txt`)}`,
      )
    ).status,
  ).toBe(403);
  expect((await trpc(cluster, vera, "files.list", "query", { path: veraHome })).status).toBe(403);
  const gw = await fetch(`${cluster.url}/api/gateway/files${veraHome}/notes.txt`, { headers: { cookie: vera } });
  expect(gw.status).toBe(403);
  // The node itself serves the old token only to the address it names (here: still
  // 127.0.0.1, so it would work; the control plane no longer issues new ones).
  const again = await api(
    cluster,
    { token: device.body.token },
    "GET",
    `/downloads?path=${encodeURIComponent(`${veraHome}/notes.txt`)}`,
  );
  expect(again.status).toBe(403);
  const audited = await db.query(
    `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'ip.denied' AND actor = 'vera@corp.test'`,
  );
  expect(audited.rows[0].n).toBeGreaterThanOrEqual(3);
  const signinDenied = await db.query(
    `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'signin.failed' AND target = 'vera@corp.test' AND outcome = 'denied'`,
  );
  expect(signinDenied.rows[0].n).toBeGreaterThanOrEqual(3);

  // Clean up through the page: the rule goes, access comes back.
  await page.getByRole("button", { name: "Delete rule deny 127.0.0.1/32 for vera@corp.test" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByText("No IP rules", { exact: true })).toBeVisible();
  expect((await db.query(`SELECT count(*)::int AS n FROM "IpRule"`)).rows[0].n).toBe(0);
  const back = await api(cluster, { cookie: vera }, "GET", `/fs/list?path=${encodeURIComponent(veraHome)}`);
  expect(back.status, JSON.stringify(back.body)).toBe(200);
  await signIn(cluster, "vera@corp.test", PW);
  expect(errors).toEqual([]);
});

test("a folder marked public is listed and downloadable without an account", async ({ page, browser }) => {
  await upload(admin, `${adminHome}/Press kit/readme.txt`, Buffer.from("hello, world\n"));
  await page.goto(`${cluster.url}/admin/public`);
  await page.getByLabel("Folder path", { exact: true }).fill(`${adminHome}/Press kit`);
  await page.getByRole("button", { name: "Make public" }).click();
  await expect(page.getByRole("table", { name: "Public entries" })).toContainText(`${adminHome}/Press kit`);

  const anon = await browser.newContext();
  const p = await anon.newPage();
  const errors = watchErrors(p, REFUSALS);
  await p.goto(`${cluster.url}/public`);
  // Folders above the public one can be passed through, not downloaded.
  await expect(p.getByRole("link", { name: "Download home as a zip" })).toHaveCount(0);
  await p.getByRole("link", { name: "home", exact: true }).click();
  await p.getByRole("link", { name: "admin", exact: true }).click();
  await p.getByRole("link", { name: "Press kit", exact: true }).click();
  await expect(p.getByRole("heading", { name: "Press kit" })).toBeVisible();
  await expect(p.getByRole("link", { name: "readme.txt", exact: true })).toBeVisible();
  const href = await p.getByRole("link", { name: "Download readme.txt" }).getAttribute("href");
  const res = await fetch(`${cluster.url}${href}`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("hello, world\n");
  // Private neighbours stay private.
  await p.goto(`${cluster.url}/public${adminHome}/Reports`);
  await expect(p.getByRole("alert").filter({ hasText: /./ })).toContainText("Nothing public");
  expect((await fetch(`${cluster.url}/api/gateway/files${adminHome}/Reports/q1.bin`)).status).not.toBe(200);
  await anon.close();
  expect(errors).toEqual([]);
});

test("the audit log lists these actions and filters by action, actor and time", async ({ page }) => {
  const errors = watchErrors(page, REFUSALS);
  await page.goto(`${cluster.url}/admin/audit`);
  const table = page.getByRole("table", { name: "Audit events" });
  for (const action of [
    "user.create",
    "user.disable",
    "user.enable",
    "user.password.reset",
    "user.role",
    "policy.set",
    "ip-rule.create",
    "ip-rule.delete",
    "node.drain",
    "entry.public",
    "signin.failed",
    "signin",
  ]) {
    await expect(table.getByRole("cell", { name: action, exact: true }).first(), action).toBeVisible();
  }
  await page.screenshot({ path: path.join(shots, "audit-log.png"), fullPage: true });

  await page.getByLabel("Action", { exact: true }).selectOption({ label: "All user administration" });
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(table.getByRole("cell", { name: "user.create", exact: true }).first()).toBeVisible();
  await expect(table.getByRole("cell", { name: "policy.set", exact: true })).toHaveCount(0);

  await page.getByRole("button", { name: "Reset" }).click();
  await page.getByLabel("Action", { exact: true }).selectOption({ label: "All sign-ins (ok, failed, locked)" });
  await page.getByLabel("Actor", { exact: true }).fill("vera");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(table.getByRole("cell", { name: "signin.failed", exact: true }).first()).toBeVisible();
  for (const actor of await table.locator("tbody tr td:nth-child(3)").allTextContents())
    expect(actor).toContain("vera");

  // A time range in the future matches nothing.
  await page.getByRole("button", { name: "Reset" }).click();
  await page.getByLabel("From", { exact: true }).fill("2099-01-01T00:00");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page.getByText("No events match", { exact: true })).toBeVisible();

  // Pagination: pages are disjoint and continue where the last one stopped.
  const first = await trpcOk<{ events: { id: string }[]; nextCursor: string | null }>(
    cluster,
    admin,
    "audit.list",
    "query",
    { limit: 5 },
  );
  expect(first.events).toHaveLength(5);
  const second = await trpcOk<{ events: { id: string }[] }>(cluster, admin, "audit.list", "query", {
    limit: 5,
    cursor: first.nextCursor,
  });
  expect(Number(second.events[0]!.id)).toBeLessThan(Number(first.events[4]!.id));
  expect(errors).toEqual([]);
});
