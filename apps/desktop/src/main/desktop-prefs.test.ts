import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  HIDDEN_ARG,
  defaultPrefs,
  loadPrefs,
  loginItemSettings,
  safeWebUrl,
  savePrefs,
  startHidden,
} from "./desktop-prefs.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cumulus-desktop-prefs-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("desktop preferences", () => {
  it("start from defaults when the file does not exist", async () => {
    expect(await loadPrefs(path.join(dir, "none.json"))).toEqual({ prefs: defaultPrefs() });
  });

  it("survive a save and load, written atomically and private", async () => {
    const file = path.join(dir, "sub", "desktop.json");
    const prefs = { ...defaultPrefs(), startAtLogin: true, window: { width: 500, height: 700, x: 10, y: 20 } };
    await savePrefs(file, prefs);
    expect(await loadPrefs(file)).toEqual({ prefs });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(path.dirname(file))).toEqual(["desktop.json"]);
  });

  it("fall back to defaults with a note when the file is damaged", async () => {
    const file = path.join(dir, "desktop.json");
    await writeFile(file, "{ not json");
    const broken = await loadPrefs(file);
    expect(broken.prefs).toEqual(defaultPrefs());
    expect(broken.problem).toMatch(/not valid JSON/);
    await writeFile(file, JSON.stringify({ window: { width: 5, height: 700 } }));
    const invalid = await loadPrefs(file);
    expect(invalid.prefs).toEqual(defaultPrefs());
    expect(invalid.problem).toMatch(/window\.width/);
  });

  it("refuse to save invalid values and leave the old file untouched", async () => {
    const file = path.join(dir, "desktop.json");
    await savePrefs(file, defaultPrefs());
    const before = await readFile(file, "utf8");
    await expect(savePrefs(file, { ...defaultPrefs(), window: { width: -1, height: 10 } })).rejects.toThrow();
    expect(await readFile(file, "utf8")).toBe(before);
    expect(await readdir(dir)).toEqual(["desktop.json"]);
  });
});

describe("login item", () => {
  it("opens hidden at login only when asked to start at login", () => {
    expect(loginItemSettings(defaultPrefs())).toEqual({ openAtLogin: false, openAsHidden: false, args: [] });
    const on = { ...defaultPrefs(), startAtLogin: true };
    expect(loginItemSettings(on)).toEqual({ openAtLogin: true, openAsHidden: true, args: [HIDDEN_ARG] });
    expect(loginItemSettings({ ...on, hiddenAtLogin: false })).toEqual({
      openAtLogin: true,
      openAsHidden: false,
      args: [],
    });
  });

  it("keeps the window closed when launched by the login item", () => {
    const on = { ...defaultPrefs(), startAtLogin: true };
    expect(startHidden(["electron", ".", HIDDEN_ARG], false, defaultPrefs())).toBe(true);
    expect(startHidden(["electron", "."], true, on)).toBe(true);
    expect(startHidden(["electron", "."], true, { ...on, hiddenAtLogin: false })).toBe(false);
    expect(startHidden(["electron", "."], false, on)).toBe(false);
  });
});

describe("safeWebUrl", () => {
  it("lets only http(s) addresses through to the browser", () => {
    expect(safeWebUrl("https://cumulus.example.com/files")).toBe("https://cumulus.example.com/files");
    expect(safeWebUrl("http://127.0.0.1:3000")).toBe("http://127.0.0.1:3000/");
    for (const bad of [
      "file:///etc/passwd",
      "javascript:alert(1)",
      "smb://host/share",
      "not a url",
      "",
      null,
      undefined,
    ]) {
      expect(safeWebUrl(bad)).toBeNull();
    }
  });
});
