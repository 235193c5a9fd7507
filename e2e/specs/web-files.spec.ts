import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open as openFile, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test, expect, type Page } from "@playwright/test";
import { TestCluster } from "../fixtures/cluster.ts";
import { pageApi, signInPage } from "../fixtures/page.ts";

// The web file browser against a real cluster in a box: uploads straight from the browser
// to the storage nodes (drag-and-drop and pickers), the download gateway (bytes, Range,
// zip, a corrupt replica), rename/move/trash/restore, versions, the details panel.

test.describe.configure({ mode: "serial" });
// Once under heavy load, a row selected by a click was no longer selected when Delete was
// pressed (session 6 notes): a trace of a failure here shows which render dropped it.
test.use({ trace: "retain-on-failure" });

const MiB = 1024 * 1024;
const shots = path.join(import.meta.dirname, "..", "screenshots");

let cluster: TestCluster;
let work: string;
let home: string;

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

const hrefOf = (p: string) => `/files/${p.split("/").filter(Boolean).map(encodeURIComponent).join("/")}`;
const signIn = (page: Page, email: string, password: string) => signInPage(page, cluster.url, email, password);
const api = <T>(page: Page, route: string, init: { method?: string; data?: unknown } = {}) =>
  pageApi<T>(page, cluster.url, route, init);
const row = (page: Page, name: string) => page.getByRole("row", { name, exact: true });

async function openFolder(page: Page, p: string): Promise<void> {
  await page.goto(`${cluster.url}${hrefOf(p)}`);
  await expect(page.getByTestId("file-list")).toBeVisible();
}

/** Waits until every upload in the panel is done. */
async function uploadsDone(page: Page, count: number): Promise<void> {
  await expect(page.getByTestId("upload-summary")).toHaveText(`${count} of ${count} uploaded`, { timeout: 60_000 });
}

test.beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "cumulus-web-files-"));
  // better-auth's sign-in refuses an address without a dot in the domain (admin@localhost).
  cluster = await TestCluster.create({ CUMULUS_ADMIN_EMAIL: "admin@cumulus.test" });
  await cluster.start();
});

test.afterAll(async () => {
  await cluster?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

test.beforeEach(async ({ page }) => {
  await signIn(page, cluster.admin!.email, cluster.admin!.password);
  home = (await api<{ home: string }>(page, "/auth/whoami")).home;
});

test("a folder dropped on the browser is uploaded with its structure and listed with the right sizes", async ({
  page,
}) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await openFolder(page, home);
  await expect(page.getByRole("navigation", { name: "Breadcrumbs" })).toContainText("admin");

  // A synthetic drop: a DataTransfer whose items are a folder tree, as Chromium hands
  // them to a page on a real drag from the desktop (webkitGetAsEntry, readEntries in
  // batches). The files are real File objects; nothing about the upload is faked.
  await page.getByTestId("drop-zone").evaluate((zone) => {
    const bytes = (n: number, seed: number) => {
      const b = new Uint8Array(n);
      let x = seed;
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        b[i] = x >>> 24;
      }
      return b;
    };
    const file = (name: string, size: number, seed: number) => new File([bytes(size, seed)], name);
    type E = { isFile: boolean; isDirectory: boolean; name: string; [k: string]: unknown };
    const fileEntry = (f: File): E => ({
      isFile: true,
      isDirectory: false,
      name: f.name,
      file: (ok: (f: File) => void) => ok(f),
    });
    const dirEntry = (name: string, children: E[]): E => ({
      isFile: false,
      isDirectory: true,
      name,
      createReader: () => {
        let at = 0;
        // Like Chromium: at most 2 entries per readEntries call here, then an empty batch.
        return { readEntries: (ok: (e: E[]) => void) => ok(children.slice(at, (at += 2))) };
      },
    });
    const tree = dirEntry("Project X", [
      fileEntry(file("report.txt", 1234, 1)),
      fileEntry(file("big.bin", 2_500_000, 2)),
      dirEntry("assets", [
        fileEntry(file("logo.png", 40_000, 3)),
        fileEntry(file("notes.md", 10, 4)),
        fileEntry(file("empty.txt", 0, 5)),
      ]),
      dirEntry("empty-dir", []),
    ]);
    const dt = {
      types: ["Files"],
      files: [],
      items: [{ kind: "file", webkitGetAsEntry: () => tree, getAsFile: () => null }],
    };
    for (const type of ["dragenter", "dragover", "drop"]) {
      const ev = new Event(type, { bubbles: true, cancelable: true });
      Object.defineProperty(ev, "dataTransfer", { value: dt });
      zone.dispatchEvent(ev);
    }
  });
  await uploadsDone(page, 5);
  await expect(row(page, "Project X")).toBeVisible();
  await row(page, "Project X").getByRole("link", { name: "Project X" }).click();
  await expect(page).toHaveURL(/\/Project%20X$/);
  await expect(row(page, "assets")).toBeVisible();
  await expect(row(page, "empty-dir")).toBeVisible();
  await expect(row(page, "report.txt")).toContainText("1.21 KB");
  await expect(row(page, "big.bin")).toContainText("2.38 MB");
  // Sortable: by size, largest first (folders stay on top).
  await page.getByRole("columnheader", { name: "Size" }).getByRole("button").click();
  await page.getByRole("columnheader", { name: "Size" }).getByRole("button").click();
  await expect(page.getByRole("columnheader", { name: "Size" })).toHaveAttribute("aria-sort", "descending");
  const names = await page
    .getByRole("grid")
    .getByRole("row")
    .evaluateAll((rows) => rows.map((r) => r.getAttribute("aria-label")));
  expect(names.filter(Boolean)).toEqual(["assets", "empty-dir", "big.bin", "report.txt"]);
  await page.goto(`${cluster.url}${hrefOf(`${home}/Project X/assets`)}`);
  await expect(row(page, "logo.png")).toContainText("39.1 KB");
  await expect(row(page, "notes.md")).toContainText("10 B");
  await expect(row(page, "empty.txt")).toContainText("0 B");
  // Exact sizes, from the API.
  const listing = await api<{ entries: { name: string; size: number }[] }>(
    page,
    `/fs/list?path=${encodeURIComponent(`${home}/Project X`)}`,
  );
  expect(Object.fromEntries(listing.entries.map((e) => [e.name, e.size]))).toMatchObject({
    "report.txt": 1234,
    "big.bin": 2_500_000,
  });
  expect(errors).toEqual([]);
});

test("a folder picked with the folder picker and files with the file picker are uploaded; re-uploading dedups", async ({
  page,
}) => {
  const dir = path.join(work, "Holiday");
  await mkdir(path.join(dir, "day1"), { recursive: true });
  const a = randomBytes(3 * MiB + 17);
  await writeFile(path.join(dir, "day1", "a.jpg"), a);
  await writeFile(path.join(dir, "readme.txt"), "pictures\n");
  await openFolder(page, home);
  await page.getByTestId("upload-folder-input").setInputFiles(dir);
  await uploadsDone(page, 2);
  await expect(row(page, "Holiday")).toBeVisible();
  const stat = await api<{ size: number }>(page, `/fs/stat?path=${encodeURIComponent(`${home}/Holiday/day1/a.jpg`)}`);
  expect(stat.size).toBe(a.length);

  // The same bytes under another name: every chunk is already stored.
  await writeFile(path.join(work, "copy.jpg"), a);
  await page.getByRole("button", { name: "Clear" }).click();
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "copy.jpg"));
  await uploadsDone(page, 1);
  await expect(page.getByRole("listitem", { name: `Upload ${home}/copy.jpg` })).toContainText("already stored");
  await expect(row(page, "copy.jpg")).toBeVisible();
  await page.screenshot({ path: path.join(shots, "web-file-browser.png") });
});

test("an upload can be cancelled and retried; search finds it by name", async ({ page }) => {
  const bytes = randomBytes(48 * MiB);
  await writeFile(path.join(work, "huge-video.mp4"), bytes);
  await openFolder(page, home);
  // Slow the storage nodes' answers down so there is time to cancel.
  await page.route(/\/chunks\//, async (route) => {
    await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  });
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "huge-video.mp4"));
  const item = page.getByRole("listitem", { name: `Upload ${home}/huge-video.mp4` });
  await expect(item.getByRole("progressbar")).toBeVisible();
  await item.getByRole("button", { name: "Cancel upload of huge-video.mp4" }).click();
  await expect(item).toContainText("Cancelled");
  await expect(row(page, "huge-video.mp4")).toHaveCount(0);
  await page.unroute(/\/chunks\//);
  await item.getByRole("button", { name: "Retry upload of huge-video.mp4" }).click();
  await uploadsDone(page, 1);
  await expect(row(page, "huge-video.mp4")).toContainText("48.0 MB");
  const stat = await api<{ size: number }>(page, `/fs/stat?path=${encodeURIComponent(`${home}/huge-video.mp4`)}`);
  expect(stat.size).toBe(bytes.length);

  await page.getByRole("textbox", { name: "Search by name" }).fill("VIDEO");
  await page.getByRole("textbox", { name: "Search by name" }).press("Enter");
  await expect(page).toHaveURL(/\/search\?q=VIDEO/);
  const results = page.getByRole("table", { name: "Search results" });
  await expect(results.getByRole("row", { name: "huge-video.mp4" })).toContainText(home);
  await expect(results.getByRole("row")).toHaveCount(2); // header + one result
});

test("an upload over the user's quota fails in the panel with what is used and allowed; with room, Retry uploads it", async ({
  page,
}) => {
  const me = await api<{ id: string }>(page, "/auth/whoami");
  const setQuota = async (quotaBytes: number | null) => {
    const r = await page.request.post(`${cluster.url}/api/trpc/users.setQuota`, {
      data: { id: me.id, quotaBytes },
      headers: { origin: cluster.url },
    });
    expect(r.status(), await r.text()).toBe(200);
  };
  // Everything the earlier tests stored counts; a 1 MiB quota is already exceeded.
  await setQuota(MiB);
  await writeFile(path.join(work, "over-quota.bin"), randomBytes(2 * MiB));
  await openFolder(page, home);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "over-quota.bin"));
  const item = page.getByRole("listitem", { name: `Upload ${home}/over-quota.bin` });
  await expect(item).toContainText("Failed");
  await expect(item).toContainText(/needs 2\.0 MiB more but .*'s quota is 1\.0 MiB with .* used/);
  await expect(row(page, "over-quota.bin")).toHaveCount(0);
  const refused = await page.request.get(
    `${cluster.url}/api/v1/fs/stat?path=${encodeURIComponent(`${home}/over-quota.bin`)}`,
  );
  expect(refused.status()).toBe(404);

  await setQuota(null);
  await item.getByRole("button", { name: "Retry upload of over-quota.bin" }).click();
  await uploadsDone(page, 1);
  await expect(row(page, "over-quota.bin")).toContainText("2.00 MB");
});

test("downloads a file and a folder through the gateway, byte for byte, with Range and a corrupt replica", async ({
  page,
}) => {
  const bytes = randomBytes(5 * MiB + 333);
  await writeFile(path.join(work, "data.bin"), bytes);
  await openFolder(page, home);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "data.bin"));
  await uploadsDone(page, 1);

  // From the row's menu, as a user does.
  await row(page, "data.bin").getByRole("button", { name: "Actions for data.bin" }).click();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("menuitem", { name: "Download" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("data.bin");
  const saved = path.join(work, "downloaded.bin");
  await download.saveAs(saved);
  expect(sha256(await readFile(saved))).toBe(sha256(bytes));

  const url = `${cluster.url}/api/gateway/files${home}/data.bin`;
  const full = await page.request.get(url, { headers: { "accept-encoding": "gzip" } });
  expect(full.status()).toBe(200);
  expect(full.headers()["content-length"]).toBe(String(bytes.length));
  expect(full.headers()["content-encoding"]).toBeUndefined();
  const etag = full.headers()["etag"]!;
  const range = await page.request.get(url, { headers: { range: `bytes=${MiB - 5}-${3 * MiB + 4}` } });
  expect(range.status()).toBe(206);
  expect(range.headers()["content-range"]).toBe(`bytes ${MiB - 5}-${3 * MiB + 4}/${bytes.length}`);
  expect((await range.body()).equals(bytes.subarray(MiB - 5, 3 * MiB + 5))).toBe(true);
  expect((await page.request.get(url, { headers: { range: `bytes=${bytes.length}-` } })).status()).toBe(416);
  expect((await page.request.get(url, { headers: { "if-none-match": etag } })).status()).toBe(304);

  // Damage one replica of every chunk on disk: the gateway must notice and use the other.
  const stat = await api<{ chunks: { id: string; replicas: { node: string }[] }[] }>(
    page,
    `/fs/stat?path=${encodeURIComponent(`${home}/data.bin`)}`,
  );
  for (const c of stat.chunks) {
    const node = c.replicas[0]!.node;
    const file = path.join(cluster.dataDir, "nodes", node, "chunks", c.id.slice(0, 2), c.id.slice(2, 4), c.id);
    const fh = await openFile(file, "r+");
    await fh.write(Buffer.from([0x42 ^ 0xff]), 0, 1, 1000);
    await fh.close();
  }
  const again = await page.request.get(url);
  expect(again.status()).toBe(200);
  expect(sha256(await again.body())).toBe(sha256(bytes));

  // Names are percent-encoded in gateway URLs and decoded exactly once.
  await writeFile(path.join(work, "50% off #1.txt"), "sale\n");
  await page.getByRole("button", { name: "Clear" }).click();
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "50% off #1.txt"));
  await uploadsDone(page, 1);
  const odd = await page.request.get(`${cluster.url}/api/gateway/files${home}/${encodeURIComponent("50% off #1.txt")}`);
  expect(odd.status()).toBe(200);
  expect(await odd.text()).toBe("sale\n");

  // A folder downloads as a zip.
  const zip = await page.request.get(`${cluster.url}/api/gateway/files${encodeURI(`${home}/Project X`)}`);
  expect(zip.status()).toBe(200);
  expect(zip.headers()["content-type"]).toBe("application/zip");
  const zipPath = path.join(work, "project.zip");
  await writeFile(zipPath, await zip.body());
  const names = spawnSync("unzip", ["-Z1", zipPath]).stdout.toString().trim().split("\n").sort();
  expect(names).toEqual([
    "Project X/assets/",
    "Project X/assets/empty.txt",
    "Project X/assets/logo.png",
    "Project X/assets/notes.md",
    "Project X/big.bin",
    "Project X/empty-dir/",
    "Project X/report.txt",
  ]);
  expect(spawnSync("unzip", ["-tq", zipPath]).status).toBe(0);
});

test("renames with F2, moves with the folder picker, deletes with Delete, restores from the trash", async ({
  page,
}) => {
  await api(page, "/fs/mkdir", { method: "POST", data: { path: `${home}/Archive`, parents: false } });
  await openFolder(page, home);
  const grid = page.getByRole("grid", { name: /Files in/ });

  // Keyboard: select with a click and the arrows, rename with F2.
  await writeFile(path.join(work, "draft.txt"), "first draft\n");
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "draft.txt"));
  await uploadsDone(page, 1);
  await row(page, "draft.txt").click();
  await expect(row(page, "draft.txt")).toHaveAttribute("aria-selected", "true");
  await grid.press("ArrowUp");
  await expect(row(page, "draft.txt")).toHaveAttribute("aria-selected", "false");
  await grid.press("ArrowDown");
  await expect(row(page, "draft.txt")).toHaveAttribute("aria-selected", "true");
  await grid.press("F2");
  const name = page.getByRole("dialog").getByLabel("Name");
  await name.fill("final.txt");
  await name.press("Enter");
  await expect(row(page, "final.txt")).toBeVisible();
  await expect(row(page, "draft.txt")).toHaveCount(0);

  // Move into Archive with the folder picker.
  await row(page, "final.txt").getByRole("button", { name: "Actions for final.txt" }).click();
  await page.getByRole("menuitem", { name: "Move…" }).click();
  const dialog = page.getByRole("dialog", { name: "Move final.txt" });
  await dialog.getByRole("listitem").filter({ hasText: "Archive" }).click();
  await dialog.getByRole("button", { name: "Move here" }).click();
  // While a dialog is open the rows behind it are hidden from the accessibility tree, so
  // "no final.txt row" only means something once it has closed.
  await expect(dialog).toBeHidden();
  await expect(row(page, "final.txt")).toHaveCount(0);
  await row(page, "Archive").getByRole("link").click();
  // The old folder stays on screen until the new one renders: look inside the new one.
  const archive = page.getByRole("grid", { name: "Files in Archive" });
  await expect(archive.getByRole("row", { name: "final.txt", exact: true })).toBeVisible();

  // Delete with the keyboard, confirm.
  await archive.getByRole("row", { name: "final.txt", exact: true }).click();
  await expect(row(page, "final.txt")).toHaveAttribute("aria-selected", "true");
  await page.getByRole("grid").press("Delete");
  await page.getByRole("alertdialog").getByRole("button", { name: "Move to trash" }).click();
  await expect(page.getByRole("alertdialog")).toBeHidden();
  await expect(row(page, "final.txt")).toHaveCount(0);
  await expect(page.getByText("This folder is empty")).toBeVisible();

  await page.goto(`${cluster.url}/trash`);
  const item = page.getByRole("row", { name: "final.txt" });
  await expect(item).toContainText(`${home}/Archive`);
  await page.screenshot({ path: path.join(shots, "web-trash.png") });
  await item.getByRole("button", { name: "Restore final.txt" }).click();
  await expect(page.getByText("The trash is empty")).toBeVisible();
  const back = await api<{ size: number }>(page, `/fs/stat?path=${encodeURIComponent(`${home}/Archive/final.txt`)}`);
  expect(back.size).toBe("first draft\n".length);

  // Delete forever.
  await api(page, "/fs/delete", { method: "POST", data: { path: `${home}/Archive`, recursive: true } });
  await page.goto(`${cluster.url}/trash`);
  await page.getByRole("button", { name: "Delete Archive forever" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete forever" }).click();
  await expect(page.getByText("The trash is empty")).toBeVisible();
  const gone = await page.request.get(`${cluster.url}/api/v1/fs/stat?path=${encodeURIComponent(`${home}/Archive`)}`);
  expect(gone.status()).toBe(404);
});

test("replaces a file and restores an older version from the history", async ({ page }) => {
  await writeFile(path.join(work, "notes.txt"), "version one\n");
  await openFolder(page, home);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "notes.txt"));
  await uploadsDone(page, 1);
  await page.getByRole("button", { name: "Clear" }).click();
  await writeFile(path.join(work, "notes.txt"), "version two, longer\n");
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "notes.txt"));
  const item = page.getByRole("listitem", { name: `Upload ${home}/notes.txt` });
  await expect(item).toContainText("Already exists");
  await item.getByRole("button", { name: "Replace" }).click();
  await uploadsDone(page, 1);

  await row(page, "notes.txt").getByRole("button", { name: "Actions for notes.txt" }).click();
  await page.getByRole("menuitem", { name: "Version history" }).click();
  const history = page.getByRole("dialog", { name: /Version history/ });
  await expect(history.getByRole("listitem", { name: "Version 2" })).toContainText("Current");
  await history.getByRole("listitem", { name: "Version 1" }).getByRole("button", { name: "Restore" }).click();
  await expect(history.getByRole("listitem", { name: "Version 3" })).toContainText("Current");
  const res = await page.request.get(`${cluster.url}/api/gateway/files${home}/notes.txt`);
  expect(await res.text()).toBe("version one\n");
  expect(res.headers()["x-cumulus-version"]).toBe("3");
});

test("the details panel shows 3 replicas of every chunk once the folder's policy asks for 3", async ({ page }) => {
  await api(page, "/fs/mkdir", { method: "POST", data: { path: `${home}/Important`, parents: false } });
  await api(page, "/policy", { method: "PUT", data: { path: `${home}/Important`, replicas: 3 } });
  const bytes = randomBytes(3 * MiB);
  await writeFile(path.join(work, "contract.pdf"), bytes);
  await openFolder(page, `${home}/Important`);
  await page.getByTestId("upload-files-input").setInputFiles(path.join(work, "contract.pdf"));
  await uploadsDone(page, 1);
  await page.getByRole("button", { name: "Clear" }).click();
  await page.setViewportSize({ width: 1440, height: 1100 });
  await row(page, "contract.pdf").click();
  await page.getByRole("button", { name: "Details", exact: true }).click();
  const panel = page.getByRole("complementary", { name: "Details" });
  await expect(panel.getByTestId("details-policy")).toHaveText("3 replicas");
  await expect(panel.getByTestId("details-size")).toContainText(`${bytes.length.toLocaleString("en")} bytes`);
  await expect(panel.getByTestId("details-versions")).toHaveText("1 (current v1)");
  const chunks = panel.getByRole("listitem", { name: /^Chunk \d+$/ });
  await expect(chunks.first()).toBeVisible();
  const n = await chunks.count();
  expect(n).toBeGreaterThanOrEqual(2);
  for (let i = 0; i < n; i++) {
    await expect(chunks.nth(i)).toHaveAttribute("data-replicas", "3");
    for (const node of ["hq-1", "hq-2", "branch-1"]) await expect(chunks.nth(i)).toContainText(node);
  }
  await page.screenshot({ path: path.join(shots, "web-details-panel.png") });
});

test("the audit log lists the file actions of this suite: uploads, rename/move, delete, restore, versions, policy", async ({
  page,
}) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${cluster.url}/admin/audit`);
  const table = page.getByRole("table", { name: "Audit events" });
  for (const action of [
    "signin",
    "file.create",
    "file.update",
    "entry.move",
    "entry.trash",
    "entry.restore",
    "file.restore-version",
    "policy.set",
  ]) {
    // Filtered to the one action: a busy log pages older events out of the first screen.
    await page.getByLabel("Action", { exact: true }).selectOption(action);
    await page.getByRole("button", { name: "Apply" }).click();
    await expect(table.getByRole("cell", { name: action, exact: true }).first(), action).toBeVisible();
  }
  expect(errors).toEqual([]);
});
