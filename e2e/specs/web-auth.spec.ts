import path from "node:path";
import { test, expect } from "@playwright/test";
import type pg from "pg";
import { TestCluster } from "../fixtures/cluster.ts";
import { useCookie, watchErrors } from "../fixtures/page.ts";
import { api, createUser, database, signIn, signInRaw, trpc, trpcOk, type Cookie } from "../fixtures/web.ts";

// Accounts in the browser against a real cluster in a box: the sign-in form and its
// refusals, the session cookie on every API, sign-out (here and everywhere), password
// change, lock-out, and Settings → Devices.

test.describe.configure({ mode: "serial" });

const shots = path.join(import.meta.dirname, "..", "screenshots");
const PW = "a long enough password";

let cluster: TestCluster;
let db: pg.Client;
let admin: Cookie;

test.beforeAll(async () => {
  // The box's default first admin is admin@localhost: its sign-in must work too.
  cluster = await TestCluster.create();
  await cluster.start();
  db = await database(cluster);
  admin = await signIn(cluster, cluster.admin!.email, cluster.admin!.password);
});

test.afterAll(async () => {
  await db?.end().catch(() => undefined);
  await cluster?.destroy();
});

test("the sign-in form: a wrong password is refused with a clear message, the right one signs in; sign out", async ({
  page,
  context,
}) => {
  const errors = watchErrors(page);
  await createUser(cluster, admin, "olivia@corp.test", PW);

  await page.goto(`${cluster.url}/`);
  await expect(page).toHaveURL(/\/sign-in$/);
  await expect(page.getByRole("heading", { name: "Sign in to Cumulus" })).toBeVisible();
  await page.screenshot({ path: path.join(shots, "sign-in.png"), fullPage: true });
  // Browsers ask for /favicon.ico whenever a page has no icon link yet, which a streamed
  // page's head may not have when it finishes loading; a 404 there is a console error.
  const favicon = await page.request.get(`${cluster.url}/favicon.ico`);
  expect(favicon.status()).toBe(200);
  expect(favicon.headers()["content-type"]).toBe("image/x-icon");

  await page.getByLabel("Email").fill("olivia@corp.test");
  await page.getByLabel("Password").fill("not my password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /./ })).toHaveText("Wrong email or password");
  await expect(page).toHaveURL(/\/sign-in$/);

  await page.getByLabel("Password").fill(PW);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/files/);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Files" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Shared with me" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Trash" })).toBeVisible();
  // Not an admin: no Admin link.
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Admin" })).toHaveCount(0);

  const cookies = await context.cookies(cluster.url);
  const session = cookies.find((c) => c.name === "cumulus.session_token");
  expect(session, JSON.stringify(cookies)).toBeTruthy();
  expect(session!.httpOnly).toBe(true);
  expect(session!.sameSite).toBe("Lax");
  expect(session!.secure).toBe(false); // served over http here; https makes it Secure (unit-tested)

  await page.getByRole("button", { name: "Account menu for olivia@corp.test" }).click();
  await page.getByRole("menuitem", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto(`${cluster.url}/files`);
  await expect(page).toHaveURL(/\/sign-in$/);
  expect(errors).toEqual([]);

  const events = await db.query(
    `SELECT action, outcome FROM "AuditEvent" WHERE target = 'olivia@corp.test' AND action LIKE 'sign%' ORDER BY id`,
  );
  expect(events.rows.map((r) => `${r.action}:${r.outcome}`)).toEqual([
    "signin.failed:failed",
    "signin:ok",
    "signout:ok",
  ]);
});

test("the session cookie authenticates /api/v1 and tRPC; after sign-out it does not", async () => {
  const cookie = await signIn(cluster, "olivia@corp.test", PW);
  const who = await api<{ email: string; home: string }>(cluster, { cookie }, "GET", "/auth/whoami");
  expect(who.status).toBe(200);
  expect(who.body.email).toBe("olivia@corp.test");
  expect(await trpcOk(cluster, cookie, "session.me", "query")).toMatchObject({
    email: "olivia@corp.test",
    via: "session",
  });
  expect((await api(cluster, {}, "GET", "/auth/whoami")).status).toBe(401);

  const out = await fetch(`${cluster.url}/api/auth/sign-out`, {
    method: "POST",
    headers: { cookie, origin: cluster.url, "content-type": "application/json" },
    body: "{}",
  });
  expect(out.status).toBe(200);
  expect((await api(cluster, { cookie }, "GET", "/auth/whoami")).status).toBe(401);
  expect((await trpc(cluster, cookie, "session.me", "query")).status).toBe(401);
});

test("a disabled account cannot sign in, and its open sessions stop working", async ({ page }) => {
  const id = await createUser(cluster, admin, "paul@corp.test", PW);
  const cookie = await signIn(cluster, "paul@corp.test", PW);
  await trpcOk(cluster, admin, "users.setDisabled", "mutation", { id, disabled: true });
  expect((await api(cluster, { cookie }, "GET", "/auth/whoami")).status).toBe(401);

  await page.goto(`${cluster.url}/sign-in`);
  await page.getByLabel("Email").fill("paul@corp.test");
  await page.getByLabel("Password").fill(PW);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /./ })).toHaveText("This account is disabled");
  await trpcOk(cluster, admin, "users.setDisabled", "mutation", { id, disabled: false });
  await signIn(cluster, "paul@corp.test", PW);
});

test("five wrong passwords lock the e-mail out for 15 minutes, audited, shared by every sign-in path", async ({
  page,
}) => {
  await createUser(cluster, admin, "quinn@corp.test", PW);
  for (let i = 0; i < 4; i++) {
    const r = await signInRaw(cluster, "quinn@corp.test", `wrong password ${i}`);
    expect(r.status).toBe(401);
  }
  const fifth = await signInRaw(cluster, "quinn@corp.test", "wrong password 4");
  expect(fifth.status).toBe(429);
  expect(fifth.body?.message).toMatch(/^Too many attempts: try again in 1[45] minutes$/);

  await page.goto(`${cluster.url}/sign-in`);
  await page.getByLabel("Email").fill("quinn@corp.test");
  await page.getByLabel("Password").fill(PW);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /./ })).toHaveText(
    /^Too many attempts: try again in 1[45] minutes$/,
  );

  // The CLI's sign-in is locked too (same lock-out, kept in the database).
  const cli = await api<{ error: { code: string } }>(cluster, {}, "POST", "/auth/device-tokens", {
    email: "quinn@corp.test",
    password: PW,
    deviceName: "cli",
  });
  expect(cli.status).toBe(429);
  const locked = await db.query(
    `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'signin.locked' AND target = 'quinn@corp.test'`,
  );
  expect(locked.rows[0].n).toBe(1);

  // An admin's password reset lifts the lock.
  const { id } = (await db.query(`SELECT id FROM "User" WHERE email = 'quinn@corp.test'`)).rows[0];
  await trpcOk(cluster, admin, "users.resetPassword", "mutation", { id, password: "a new long password" });
  await signIn(cluster, "quinn@corp.test", "a new long password");
});

test("password change needs the current password and ends the other sessions", async ({ page, context }) => {
  await createUser(cluster, admin, "rita@corp.test", PW);
  const other = await signIn(cluster, "rita@corp.test", PW);
  const mine = await signIn(cluster, "rita@corp.test", PW);
  await useCookie(context, cluster.url, mine);
  const errors = watchErrors(page);
  await page.goto(`${cluster.url}/settings`);
  await expect(page.getByRole("heading", { name: "Settings" })).toBeVisible();
  await expect(page.getByText("rita@corp.test")).toBeVisible();

  await page.getByLabel("Current password").fill("not the password");
  await page.getByLabel("New password", { exact: true }).fill("brand new password 1");
  await page.getByLabel("Repeat new password").fill("brand new password 1");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /./ })).toHaveText("your current password is not right");

  await page.getByLabel("Current password").fill(PW);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Password changed", { exact: true })).toBeVisible();

  expect((await signInRaw(cluster, "rita@corp.test", PW)).status).toBe(401);
  await signIn(cluster, "rita@corp.test", "brand new password 1");
  expect((await api(cluster, { cookie: other }, "GET", "/auth/whoami")).status).toBe(401);
  expect((await api(cluster, { cookie: mine }, "GET", "/auth/whoami")).status).toBe(200);
  expect(errors).toEqual([]);
});

test("sign out everywhere ends every browser session of the account", async ({ page, context }) => {
  await createUser(cluster, admin, "sam@corp.test", PW);
  const a = await signIn(cluster, "sam@corp.test", PW);
  const b = await signIn(cluster, "sam@corp.test", PW);
  await useCookie(context, cluster.url, a);
  await page.goto(`${cluster.url}/settings`);
  await expect(page.getByRole("list", { name: "Sessions" }).getByRole("listitem")).toHaveCount(2);
  await page.getByRole("button", { name: "Sign out everywhere" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  for (const cookie of [a, b]) expect((await api(cluster, { cookie }, "GET", "/auth/whoami")).status).toBe(401);
  const n = await db.query(
    `SELECT count(*)::int AS n FROM "Session" s JOIN "User" u ON u.id = s."userId" WHERE u.email = 'sam@corp.test'`,
  );
  expect(n.rows[0].n).toBe(0);
});

test("Settings → Devices lists the user's device tokens and revokes one", async ({ page, context }) => {
  await createUser(cluster, admin, "tess@corp.test", PW);
  const dev = await api<{ token: string }>(cluster, {}, "POST", "/auth/device-tokens", {
    email: "tess@corp.test",
    password: PW,
    deviceName: "tess-laptop",
  });
  expect(dev.status).toBe(201);
  expect((await api(cluster, { token: dev.body.token }, "GET", "/auth/whoami")).status).toBe(200);

  await useCookie(context, cluster.url, await signIn(cluster, "tess@corp.test", PW));
  const errors = watchErrors(page);
  await page.goto(`${cluster.url}/settings/devices`);
  const row = page.getByRole("row", { name: /tess-laptop/ });
  await expect(row).toContainText("Active");
  await row.getByRole("button", { name: "Revoke tess-laptop" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("Revoked");
  expect((await api(cluster, { token: dev.body.token }, "GET", "/auth/whoami")).status).toBe(401);
  expect(errors).toEqual([]);
});
