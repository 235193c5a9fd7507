import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeCluster, type FakeCluster } from "@cumulus/client/testing/fake-cluster";
import { run } from "./cli.ts";
import { loadConfig, resolveSession, saveConfig } from "./config.ts";
import type { CliIO } from "./context.ts";
import { humanSize, table } from "./format.ts";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "cumulus-cli-test-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv, onInterrupt?: (h: () => void) => void) {
  const out = { stdout: "", stderr: "" };
  const value: CliIO = {
    stdout: { write: (s: string) => (out.stdout += s), isTTY: false },
    stderr: { write: (s: string) => (out.stderr += s), isTTY: false },
    stdin: new PassThrough(),
    env: { CUMULUS_CONFIG_DIR: path.join(dir, "cfg-" + Math.random().toString(36).slice(2)), ...env },
    onInterrupt: (h) => {
      onInterrupt?.(h);
      return () => undefined;
    },
  };
  return { io: value, out };
}

describe("format", () => {
  it("prints binary sizes", () => {
    expect(humanSize(0)).toBe("0 B");
    expect(humanSize(1023)).toBe("1023 B");
    expect(humanSize(1024)).toBe("1.0 KiB");
    expect(humanSize(256 * 1024 * 1024)).toBe("256.0 MiB");
    expect(humanSize(1.5 * 1024 ** 3)).toBe("1.5 GiB");
    expect(humanSize(15.93)).toBe("16 B");
  });

  it("aligns table columns, numbers to the right, without trailing blanks", () => {
    expect(
      table(
        ["NAME", "SIZE"],
        [
          ["a", "1 B"],
          ["long-name", "10.0 KiB"],
        ],
        ["left", "right"],
      ),
    ).toBe(["NAME           SIZE", "a               1 B", "long-name  10.0 KiB"].join("\n"));
  });
});

describe("config", () => {
  it("is saved private (0600) and read back", async () => {
    const d = path.join(dir, "c1");
    await saveConfig(d, { server: "http://x", token: "t", email: "e" });
    expect((await stat(path.join(d, "config.json"))).mode & 0o777).toBe(0o600);
    expect(await loadConfig(d)).toEqual({ server: "http://x", token: "t", email: "e" });
  });

  it("names a damaged config file", async () => {
    const d = path.join(dir, "c2");
    await saveConfig(d, {});
    await writeFile(path.join(d, "config.json"), "{oops");
    await expect(loadConfig(d)).rejects.toThrow(/config\.json is not valid JSON/);
  });

  it("never sends the stored token to another server", () => {
    const cfg = { server: "http://a:1", token: "secret", email: "e" };
    expect(resolveSession({}, {}, cfg)).toMatchObject({ server: "http://a:1", token: "secret" });
    expect(resolveSession({ server: "http://a:1/" }, {}, cfg).token).toBe("secret");
    expect(resolveSession({ server: "http://b:1" }, {}, cfg).token).toBeNull();
    expect(resolveSession({}, { CUMULUS_SERVER: "http://b:1" }, cfg).token).toBeNull();
    expect(resolveSession({}, { CUMULUS_SERVER: "http://b:1", CUMULUS_TOKEN: "t2" }, cfg)).toMatchObject({
      server: "http://b:1",
      token: "t2",
    });
    expect(resolveSession({ site: "hq" }, { CUMULUS_SITE: "branch" }, cfg).site).toBe("hq");
  });
});

describe("errors", () => {
  it("a usage error is one line and exit 2", async () => {
    const { io: i, out } = io({});
    expect(await run(["ls", "--nope"], i)).toBe(2);
    expect(out.stderr).toBe("cumulus: unknown option '--nope'\n");
    const b = io({});
    expect(
      await run(["put", "only-one"], {
        ...b.io,
        env: { ...b.io.env, CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "t" },
      }),
    ).toBe(2);
    expect(b.out.stderr).toMatch(/^cumulus: put needs at least one local file or folder and a remote destination/);
  });

  it("without credentials: exit 3 with a hint", async () => {
    const { io: i, out } = io({});
    expect(await run(["ls", "/"], i)).toBe(3);
    expect(out.stderr).toMatch(/^cumulus: not logged in: run `cumulus login/);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("an unreachable server: exit 7, one line, no stack unless CUMULUS_DEBUG=1", async () => {
    const env = { CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "t" };
    const a = io(env);
    expect(await run(["sysinfo"], a.io)).toBe(7);
    expect(a.out.stderr).toMatch(/^cumulus: cannot reach the Cumulus server at http:\/\/127\.0\.0\.1:9: .+\n$/);
    expect(a.out.stderr.split("\n")).toHaveLength(2);
    const b = io({ ...env, CUMULUS_DEBUG: "1" });
    await run(["sysinfo"], b.io);
    expect(b.out.stderr).toMatch(/\n\s+at /);
  });

  it("an invalid remote path is refused before any request", async () => {
    const { io: i, out } = io({ CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "t" });
    expect(await run(["get", "/a/../b", "x"], i)).toBe(2);
    expect(out.stderr).toMatch(/'\.\.' is not allowed as a name/);
  });
});

describe("put and get against a fake cluster", () => {
  let fc: FakeCluster;
  beforeEach(async () => {
    fc = await startFakeCluster();
  });
  afterEach(async () => {
    await fc.close();
  });

  it("round-trips a file and reports the put as one JSON document", async () => {
    const src = path.join(dir, "src.bin");
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(src, bytes);
    const env = { CUMULUS_SERVER: fc.url, CUMULUS_TOKEN: "good-token" };
    const p = io(env);
    expect(await run(["put", src, "/f.bin", "--json"], p.io)).toBe(0);
    const put = JSON.parse(p.out.stdout);
    expect(put).toMatchObject({ bytesTotal: bytes.length, bytesUploaded: bytes.length });
    expect(put.chunksUploaded).toBe(put.chunksTotal);
    expect(p.out.stderr).toBe("");

    const g = io(env);
    const dest = path.join(dir, "dest.bin");
    expect(await run(["get", "/f.bin", dest, "--json"], g.io)).toBe(0);
    expect(JSON.parse(g.out.stdout)).toMatchObject({ bytesTotal: bytes.length });
    const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
    expect(sha(await readFile(dest))).toBe(sha(bytes));
  });

  it("Ctrl-C during put exits 130 and says how to resume", async () => {
    const src = path.join(dir, "src2.bin");
    await writeFile(src, randomBytes(2 * 1024 * 1024));
    const { io: i, out } = io({ CUMULUS_SERVER: fc.url, CUMULUS_TOKEN: "good-token" }, (h) => h());
    expect(await run(["put", src, "/g.bin"], i)).toBe(130);
    expect(out.stderr).toMatch(/^cumulus: interrupted: run the same put again to resume/);
  });

  it("a conflicting put says the local file is unchanged", async () => {
    const src = path.join(dir, "src3.bin");
    await writeFile(src, randomBytes(1024));
    const env = { CUMULUS_SERVER: fc.url, CUMULUS_TOKEN: "good-token" };
    expect(await run(["put", src, "/h.bin"], io(env).io)).toBe(0);
    await writeFile(src, randomBytes(1024));
    const { io: i, out } = io(env);
    const code = await run(["put", src, "/h.bin"], {
      ...i,
      // Someone else commits a new version right after each of our stats.
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (String(input).includes("/api/v1/fs/stat")) fc.files.get("/h.bin")!.versions.push({ chunks: [], size: 0 });
        return res;
      },
    });
    expect(code).toBe(6);
    expect(out.stderr).toContain(`${src} was not uploaded and is unchanged on your disk`);
  });
});

describe("sync", () => {
  it("refuses a missing folder argument or a folder that does not exist, with one line", async () => {
    const a = io({ CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "t" });
    expect(await run(["sync"], a.io)).toBe(2);
    expect(a.out.stderr).toMatch(/^cumulus: sync needs a local folder/);
    const b = io({ CUMULUS_SERVER: "http://127.0.0.1:9", CUMULUS_TOKEN: "t" });
    expect(await run(["sync", path.join(dir, "nope")], b.io)).not.toBe(0);
    expect(b.out.stderr.trim().split("\n")).toHaveLength(1);
    expect(b.out.stderr).toMatch(/is not a folder: create it first/);
    const c = io({});
    expect(await run(["sync", "x", "--port", "70000"], c.io)).toBe(2);
  });

  it("--status says so when no agent runs for the folder", async () => {
    const a = io({});
    expect(await run(["sync", "--status", dir], a.io)).not.toBe(0);
    expect(a.out.stderr).toMatch(/^cumulus: no sync agent found for .* start one with cumulus sync/);
  });
});
