// Guards on what `electron-vite build` produces, since no Electron binary can load it here:
// workspace TypeScript must be bundled (Electron cannot import .ts from node_modules), other
// imports must be declared dependencies (or a packaged app would miss them), the
// sandboxed preload must be one CommonJS file needing only "electron", and the renderer must
// use relative asset paths and no Node, so it works under cumulus://app and when the agent
// serves it at http://127.0.0.1:PORT/.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const app = path.resolve(import.meta.dirname, "..");
const out = path.join(app, "out");

beforeAll(() => {
  if (existsSync(path.join(out, "renderer", "index.html")) && existsSync(path.join(out, "main", "index.js"))) return;
  const r = spawnSync(path.join(app, "..", "..", "node_modules", ".bin", "electron-vite"), ["build"], {
    cwd: app,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`electron-vite build failed:\n${r.stdout}\n${r.stderr}`);
});

const specifiers = (code: string) => [
  ...[...code.matchAll(/^\s*import\s[^;]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!),
  ...[...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!),
  ...[...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!),
];

async function files(dir: string, ext: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((f) => f.endsWith(ext)).map((f) => path.join(dir, f));
}

describe("electron-vite build output", () => {
  it("main imports only electron, Node built-ins, declared dependencies and its own chunks", async () => {
    const pkg = JSON.parse(await readFile(path.join(app, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const declared = new Set(Object.keys(pkg.dependencies));
    const entry = await readFile(path.join(out, "main", "index.js"), "utf8");
    expect(specifiers(entry)).toContain("electron");
    for (const f of await files(path.join(out, "main"), ".js")) {
      for (const s of specifiers(await readFile(f, "utf8"))) {
        const bare = s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!;
        const ok =
          s === "electron" ||
          s.startsWith("node:") ||
          s.startsWith("./") ||
          // A chunk of the bundled agent importing what it shares with the entry (zod, protocol).
          (s.startsWith("../") && path.resolve(path.dirname(f), s).startsWith(path.join(out, "main") + path.sep)) ||
          (declared.has(bare) && !bare.startsWith("@cumulus/"));
        expect(ok, `${f}: ${s}`).toBe(true);
        expect(s.endsWith(".ts"), `${f}: ${s}`).toBe(false);
      }
    }
  });

  it("the preload is one CommonJS file that needs only electron", async () => {
    const code = await readFile(path.join(out, "preload", "index.cjs"), "utf8");
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    expect(specifiers(code)).toEqual(["electron"]);
    expect(code).toContain('exposeInMainWorld("cumulus"');
  });

  it("the renderer loads its assets relatively and never touches Node", async () => {
    const html = await readFile(path.join(out, "renderer", "index.html"), "utf8");
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(r.startsWith("./assets/"), r).toBe(true);
    for (const f of await files(path.join(out, "renderer"), ".js")) {
      const code = await readFile(f, "utf8");
      expect(code).not.toMatch(/\brequire\(|from\s*["']node:/);
    }
  });
});
