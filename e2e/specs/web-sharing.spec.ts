import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test, expect, type Browser, type Page } from "@playwright/test";
import { TestCluster } from "../fixtures/cluster.ts";
import { pageApi, signInPage } from "../fixtures/page.ts";

// Sharing in the web UI against a real cluster in a box: a folder shared with a second
// user (who sees it under "Shared with me" and nothing else), and a password-protected,
// expiring share link downloaded by someone signed out.

test.describe.configure({ mode: "serial" });

const shots = path.join(import.meta.dirname, "..", "screenshots");
const BOB = { email: "bob@corp.test", password: "bob's long password", name: "Bob" };

let cluster: TestCluster;
let work: string;
let adminHome: string;
let linkUrl: string;
const report = randomBytes(300_000);

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const hrefOf = (p: string) => `/files/${p.split("/").filter(Boolean).map(encodeURIComponent).join("/")}`;
const signIn = (page: Page, email: string, password: string) => signInPage(page, cluster.url, email, password);
const api = <T>(page: Page, route: string, init: { method?: string; data?: unknown } = {}) =>
  pageApi<T>(page, cluster.url, route, init);
const row = (page: Page, name: string) => page.getByRole("row", { name, exact: true });

async function asUser(browser: Browser, who: { email: string; password: string }): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, who.email, who.password);
  return page;
}

test.beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "cumulus-web-sharing-"));
  // better-auth's sign-in refuses an address without a dot in the domain (admin@localhost).
  cluster = await TestCluster.create({ CUMULUS_ADMIN_EMAIL: "admin@cumulus.test" });
  await cluster.start();
});

test.afterAll(async () => {
  await cluster?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

test("the admin creates a second user and a folder to share, next to a private one", async ({ browser }) => {
  const page = await asUser(browser, cluster.admin!);
  // The admin engineer's user administration (tRPC users.create).
  const created = await page.request.post(`${cluster.url}/api/trpc/users.create`, {
    data: { email: BOB.email, name: BOB.name, password: BOB.password, role: "user" },
    headers: { origin: cluster.url },
  });
  expect(created.status(), await created.text()).toBe(200);
  adminHome = (await api<{ home: string }>(page, "/auth/whoami")).home;
  await api(page, "/fs/mkdir", { method: "POST", data: { path: `${adminHome}/Team docs`, parents: false } });
  await api(page, "/fs/mkdir", { method: "POST", data: { path: `${adminHome}/Private`, parents: false } });

  await writeFile(path.join(work, "q3-report.pdf"), report);
  await writeFile(path.join(work, "salaries.xlsx"), "secret\n");
  await page.goto(`${cluster.url}${hrefOf(`${adminHome}/Team docs`)}`);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "q3-report.pdf"));
  await expect(page.getByTestId("upload-summary")).toHaveText("1 of 1 uploaded", { timeout: 60_000 });
  await page.goto(`${cluster.url}${hrefOf(`${adminHome}/Private`)}`);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "salaries.xlsx"));
  await expect(page.getByTestId("upload-summary")).toHaveText("1 of 1 uploaded", { timeout: 60_000 });
  await page.context().close();
});

test("sharing a folder with bob through the share dialog", async ({ browser }) => {
  const page = await asUser(browser, cluster.admin!);
  await page.goto(`${cluster.url}${hrefOf(adminHome)}`);
  await row(page, "Team docs").getByRole("button", { name: "Actions for Team docs" }).click();
  await page.getByRole("menuitem", { name: "Share…" }).click();
  const dialog = page.getByRole("dialog", { name: "Share Team docs" });
  await dialog.getByLabel("Share with").fill(BOB.email);
  await dialog.getByLabel("Permission").selectOption("read");
  await dialog.getByRole("button", { name: "Share", exact: true }).click();
  const access = dialog.getByRole("listitem", { name: `Access for ${BOB.email}` });
  await expect(access).toContainText("Can view");
  await page.screenshot({ path: path.join(shots, "web-share-dialog.png") });
  await page.context().close();
});

test("bob sees the folder under Shared with me, can open and download from it, and sees nothing else", async ({
  browser,
}) => {
  const page = await asUser(browser, BOB);
  await page.goto(`${cluster.url}/shared`);
  const shared = page.getByRole("row", { name: "Team docs" });
  await expect(shared).toContainText(cluster.admin!.email);
  await expect(shared).toContainText("Can view");
  await page.screenshot({ path: path.join(shots, "web-shared-with-me.png") });
  await shared.getByRole("link", { name: "Team docs", exact: true }).click();
  await expect(row(page, "q3-report.pdf")).toBeVisible();
  await expect(page.getByText("View only")).toBeVisible();
  await expect(page.getByRole("button", { name: "Upload" })).toBeDisabled();

  const res = await page.request.get(
    `${cluster.url}/api/gateway/files${encodeURI(`${adminHome}/Team docs/q3-report.pdf`)}`,
  );
  expect(res.status()).toBe(200);
  expect(sha256(await res.body())).toBe(sha256(report));

  // The admin's home shows bob only the way to what is shared.
  await page.goto(`${cluster.url}${hrefOf(adminHome)}`);
  await expect(row(page, "Team docs")).toBeVisible();
  await expect(row(page, "Private")).toHaveCount(0);
  await page.goto(`${cluster.url}${hrefOf(`${adminHome}/Private`)}`);
  await expect(page.getByText("Folder not found")).toBeVisible();
  const secret = await page.request.get(`${cluster.url}/api/gateway/files${adminHome}/Private/salaries.xlsx`);
  expect(secret.status()).toBe(404);
  // Read-only: the API refuses writes too.
  const mk = await page.request.post(`${cluster.url}/api/v1/fs/mkdir`, {
    data: { path: `${adminHome}/Team docs/bob-was-here`, parents: false },
    headers: { origin: cluster.url },
  });
  expect(mk.status()).toBe(403);
  // Search finds only what bob can read.
  const found = await page.request.get(
    `${cluster.url}/api/trpc/files.search?input=${encodeURIComponent(JSON.stringify({ q: "s" }))}`,
  );
  const names = ((await found.json()) as { result: { data: { entries: { name: string }[] } } }).result.data.entries.map(
    (e) => e.name,
  );
  expect(names).not.toContain("salaries.xlsx");
  expect(names).not.toContain("Private");

  // The share dialog's suggestions do not list the directory: nothing for empty or partial
  // queries (bob shares no group with anyone), only the account whose e-mail he typed in full.
  const suggest = async (q: string) => {
    const r = await page.request.get(
      `${cluster.url}/api/trpc/shares.suggest?input=${encodeURIComponent(JSON.stringify({ q }))}`,
    );
    expect(r.status(), await r.text()).toBe(200);
    return ((await r.json()) as { result: { data: { users: { email: string }[] } } }).result.data.users.map(
      (u) => u.email,
    );
  };
  for (const q of ["", "a", "admin", "cumulus.test"]) expect(await suggest(q), q).toEqual([]);
  expect(await suggest(cluster.admin!.email.toUpperCase())).toEqual([cluster.admin!.email]);
  await page.context().close();
});

test("a password-protected expiring link is created in the dialog and downloaded signed out", async ({ browser }) => {
  const page = await asUser(browser, cluster.admin!);
  await page.goto(`${cluster.url}${hrefOf(`${adminHome}/Team docs`)}`);
  await row(page, "q3-report.pdf").getByRole("button", { name: "Actions for q3-report.pdf" }).click();
  await page.getByRole("menuitem", { name: "Share…" }).click();
  const dialog = page.getByRole("dialog", { name: "Share q3-report.pdf" });
  await dialog.getByLabel("Password (optional)").fill("correct horse");
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
  await dialog.getByLabel("Expires on (optional)").fill(tomorrow);
  await dialog.getByLabel("Download limit (optional)").fill("2");
  await dialog.getByRole("button", { name: "Create link" }).click();
  const newLink = dialog.getByLabel("New link");
  await expect(newLink).toHaveValue(/\/s\/csl_/);
  linkUrl = await newLink.inputValue();
  await expect(dialog.getByRole("list", { name: "Existing links" })).toContainText("password");
  await page.context().close();

  const anon = await (await browser.newContext()).newPage();
  await anon.goto(linkUrl);
  await expect(anon.getByRole("heading", { name: "This link is protected by a password" })).toBeVisible();
  await anon.getByLabel("Password").fill("wrong password");
  await anon.getByRole("button", { name: "Open" }).click();
  await expect(anon.getByRole("alert").filter({ hasText: "wrong password" })).toBeVisible();
  // Without the password the gateway refuses, and nothing was counted.
  const token = linkUrl.slice(linkUrl.lastIndexOf("/") + 1);
  expect((await anon.request.get(`${cluster.url}/api/gateway/s/${token}`)).status()).toBe(401);

  await anon.getByLabel("Password").fill("correct horse");
  await anon.getByRole("button", { name: "Open" }).click();
  await expect(anon.getByRole("heading", { name: "q3-report.pdf" })).toBeVisible();
  await expect(anon.getByTestId("link-size")).toContainText("300,000 bytes");
  await expect(anon.getByText("2 downloads left")).toBeVisible();
  await anon.screenshot({ path: path.join(shots, "web-public-link.png") });
  const [download] = await Promise.all([
    anon.waitForEvent("download"),
    anon.getByRole("link", { name: "Download" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("q3-report.pdf");
  const saved = path.join(work, "from-link.pdf");
  await download.saveAs(saved);
  expect(sha256(await readFile(saved))).toBe(sha256(report));

  // The second download uses the last one allowed; then the link says so.
  const second = await anon.request.get(`${cluster.url}/api/gateway/s/${token}?download=1`);
  expect(second.status()).toBe(200);
  await second.body();
  const third = await anon.request.get(`${cluster.url}/api/gateway/s/${token}?download=1`);
  expect(third.status()).toBe(403);
  await anon.reload();
  await expect(anon.getByRole("heading", { name: "This link has reached its download limit" })).toBeVisible();
  await anon.context().close();
});

test("a revoked link and an unknown link say so", async ({ browser }) => {
  const page = await asUser(browser, cluster.admin!);
  await page.goto(`${cluster.url}${hrefOf(`${adminHome}/Team docs`)}`);
  await page.getByRole("button", { name: "Share folder" }).click();
  const dialog = page.getByRole("dialog", { name: "Share Team docs" });
  await dialog.getByRole("button", { name: "Create link" }).click();
  const url = await dialog.getByLabel("New link").inputValue();

  const anon = await (await browser.newContext()).newPage();
  await anon.goto(url);
  await expect(anon.getByRole("heading", { name: "Team docs" })).toBeVisible();
  await expect(anon.getByRole("listitem", { name: "q3-report.pdf" })).toBeVisible();
  const zip = await anon.request.get(`${cluster.url}/api/gateway/s/${url.slice(url.lastIndexOf("/") + 1)}?download=1`);
  expect(zip.headers()["content-type"]).toBe("application/zip");

  await dialog.getByRole("list", { name: "Existing links" }).getByRole("button", { name: "Revoke" }).first().click();
  await expect(dialog.getByRole("list", { name: "Existing links" })).toContainText("Revoked");
  await anon.reload();
  await expect(anon.getByRole("heading", { name: "This link was revoked" })).toBeVisible();
  await anon.goto(`${cluster.url}/s/csl_${"x".repeat(43)}`);
  await expect(anon.getByRole("heading", { name: "Link not found" })).toBeVisible();
  await page.context().close();
  await anon.context().close();
});

test("the audit log lists the sharing actions: the grant, the link, its unlock and downloads, its revocation", async ({
  browser,
}) => {
  const page = await asUser(browser, cluster.admin!);
  await page.goto(`${cluster.url}/admin/audit`);
  const table = page.getByRole("table", { name: "Audit events" });
  for (const action of ["share.grant", "link.create", "link.unlock", "link.download", "link.revoke"]) {
    // Filtered to the one action: a busy log pages older events out of the first screen.
    await page.getByLabel("Action", { exact: true }).selectOption(action);
    await page.getByRole("button", { name: "Apply" }).click();
    await expect(table.getByRole("cell", { name: action, exact: true }).first(), action).toBeVisible();
  }
  await page.screenshot({ path: path.join(shots, "web-audit-sharing.png"), fullPage: true });
  await page.context().close();
});
