import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { importJWK, jwtVerify, type CryptoKey } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import { ZCapabilityClaims } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { getSigningKey } from "../keys/signing-keys.ts";
import { whoami } from "../fs/home.ts";
import { mkdir } from "../fs/mkdir.ts";
import { addNode, createUser, testContext, upload, type TestNode } from "../fs/test-fixtures.ts";
import { liveReplicas } from "../fs/replicas.ts";
import { createShareLink, resetLinkThrottle, unlockShareLink } from "../shares/links.ts";
import { grantShare } from "../shares/grants.ts";
import { gatewayForLink, gatewayForUser } from "./gateway.ts";
import { parseRange, contentDisposition } from "./http.ts";

/**
 * Storage nodes as small HTTP servers that behave like the real data API for reads
 * (capability check, Range, 206) and can be told to misbehave: corrupt bytes, errors.
 */
class FakeNode {
  readonly chunks = new Map<string, Buffer>();
  readonly requests: { id: string; range: string | null }[] = [];
  mode: "ok" | "corrupt" | "error" = "ok";
  url = "";
  private server: http.Server;
  readonly node: TestNode;
  private readonly verifyKey: () => Promise<CryptoKey>;

  constructor(node: TestNode, verifyKey: () => Promise<CryptoKey>) {
    this.node = node;
    this.verifyKey = verifyKey;
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const id = (req.url ?? "").replace(/^\/chunks\//, "").split("?")[0]!;
    this.requests.push({ id, range: req.headers.range ?? null });
    const fail = (status: number, code: string, message: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code, message } }));
    };
    try {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const claims = ZCapabilityClaims.parse(
        (await jwtVerify(token, await this.verifyKey(), { issuer: "cumulus-control" })).payload,
      );
      if (claims.op !== "read" || !claims.aud.includes(this.node.id) || !claims.chunks.includes(id)) {
        return fail(403, "FORBIDDEN", "token does not cover this");
      }
    } catch {
      return fail(401, "UNAUTHENTICATED", "bad token");
    }
    if (this.mode === "error") return fail(500, "INTERNAL", "disk on fire");
    let data = this.chunks.get(id);
    if (!data) return fail(404, "NOT_FOUND", "no such chunk");
    if (this.mode === "corrupt") {
      data = Buffer.from(data);
      data[0] = data[0]! ^ 0xff;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, {
        "content-length": end - start + 1,
        "content-range": `bytes ${start}-${end}/${data.length}`,
      });
      res.end(data.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { "content-length": data.length });
    res.end(data);
  }
}

let db: TestDatabase;
let ctx: ControlContext;
let alice: AuthUser;
let bob: AuthUser;
let home: string;
let fakes: FakeNode[];
let work: string;

const MiB = 1024 * 1024;

function chunkOf(data: Buffer) {
  return { id: createHash("sha256").update(data).digest("hex"), size: data.length, data };
}

/** Uploads real bytes: the manifest to the control plane, the chunk bytes onto the fakes that hold replicas. */
async function put(p: string, parts: Buffer[], baseVersion: number | null = null) {
  const chunks = parts.map(chunkOf);
  const r = await upload(
    ctx,
    alice,
    fakes.map((f) => f.node),
    p,
    chunks.map((c) => ({ id: c.id, size: c.size })),
    { baseVersion, parents: true },
  );
  const live = await liveReplicas(
    ctx.prisma,
    ctx.config,
    chunks.map((c) => c.id),
  );
  for (const c of chunks) {
    for (const rep of live.get(c.id) ?? []) fakes.find((f) => f.node.id === rep.nodeId)!.chunks.set(c.id, c.data);
  }
  return { ...r, bytes: Buffer.concat(parts), chunks };
}

const get = (headers: Record<string, string> = {}, method = "GET") => ({ method, headers: new Headers(headers) });

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma, { defaultReplicas: 2 });
  alice = await createUser(ctx, "alice@corp.test");
  bob = await createUser(ctx, "bob@corp.test");
  home = (await whoami(ctx, alice)).home;
  await whoami(ctx, bob);
  let key: Promise<CryptoKey> | null = null;
  const verifyKey = () =>
    (key ??= getSigningKey(ctx).then((k) => importJWK(k.publicJwk, "EdDSA") as Promise<CryptoKey>));
  fakes = [];
  for (const [name, site] of [
    ["hq-1", "hq"],
    ["hq-2", "hq"],
    ["branch-1", "branch"],
  ] as const) {
    const f = new FakeNode(await addNode(ctx, name, site), verifyKey);
    await f.start();
    await ctx.prisma.storageNode.update({ where: { id: f.node.id }, data: { dataUrl: f.url } });
    fakes.push(f);
  }
  work = await mkdtemp(path.join(os.tmpdir(), "cumulus-gateway-test-"));
});
afterAll(async () => {
  await Promise.all((fakes ?? []).map((f) => f.stop()));
  await db?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  for (const f of fakes) {
    f.mode = "ok";
    f.requests.length = 0;
  }
  resetLinkThrottle();
});

describe("gateway HTTP helpers", () => {
  it("parses ranges like RFC 9110", () => {
    expect(parseRange(null, 100)).toEqual({ kind: "none" });
    expect(parseRange("bytes=0-9", 100)).toEqual({ kind: "range", range: { start: 0, end: 9 } });
    expect(parseRange("bytes=90-", 100)).toEqual({ kind: "range", range: { start: 90, end: 99 } });
    expect(parseRange("bytes=-10", 100)).toEqual({ kind: "range", range: { start: 90, end: 99 } });
    expect(parseRange("bytes=50-500", 100)).toEqual({ kind: "range", range: { start: 50, end: 99 } });
    expect(parseRange("bytes=100-", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=-0", 100)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=0-0", 0)).toEqual({ kind: "unsatisfiable" });
    expect(parseRange("bytes=5-1", 100)).toEqual({ kind: "none" });
    expect(parseRange("bytes=0-1,5-6", 100)).toEqual({ kind: "none" });
    expect(parseRange("items=0-1", 100)).toEqual({ kind: "none" });
  });

  it("names downloads with an ASCII fallback and the exact UTF-8 name", () => {
    expect(contentDisposition("attachment", 'Résumé "final".pdf')).toBe(
      `attachment; filename="R_sum_ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf`,
    );
  });
});

describe("file downloads", () => {
  let file: Awaited<ReturnType<typeof put>>;
  const p = () => `${home}/docs/data.bin`;

  beforeAll(async () => {
    // Three chunks: 1 MiB, 1 MiB, 300 KiB.
    file = await put(`${home}/docs/data.bin`, [randomBytes(MiB), randomBytes(MiB), randomBytes(300 * 1024)]);
  });

  it("streams the whole file with length, ETag, disposition and verified bytes", async () => {
    const res = await gatewayForUser(ctx, get(), alice, p(), { download: "1" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(file.bytes.length));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toMatch(/^"[0-9a-f]{64}"$/);
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="data.bin"; filename*=UTF-8''data.bin`);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(Buffer.from(await res.arrayBuffer()).equals(file.bytes)).toBe(true);
    // Each chunk was read whole, once.
    const reqs = fakes.flatMap((f) => f.requests);
    expect(reqs.map((r) => r.id).sort()).toEqual(file.chunks.map((c) => c.id).sort());
    expect(reqs.every((r) => r.range === null)).toBe(true);

    const again = await gatewayForUser(ctx, get({ "if-none-match": res.headers.get("etag")! }), alice, p(), {});
    expect(again.status).toBe(304);
    const head = await gatewayForUser(ctx, get({}, "HEAD"), alice, p(), {});
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(file.bytes.length));
    expect(head.body).toBeNull();
  });

  it("answers a range inside one chunk with 206 from a node Range read", async () => {
    const res = await gatewayForUser(ctx, get({ range: "bytes=100-199" }), alice, p(), {});
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 100-199/${file.bytes.length}`);
    expect(res.headers.get("content-length")).toBe("100");
    expect(Buffer.from(await res.arrayBuffer()).equals(file.bytes.subarray(100, 200))).toBe(true);
    const reqs = fakes.flatMap((f) => f.requests);
    expect(reqs).toEqual([{ id: file.chunks[0]!.id, range: "bytes=100-199" }]);
  });

  it("fetches only the chunks a multi-chunk range needs, partial ones by Range", async () => {
    const start = MiB - 10;
    const end = 2 * MiB + 9; // 10 bytes of chunk 0, all of chunk 1, 10 bytes of chunk 2
    const res = await gatewayForUser(ctx, get({ range: `bytes=${start}-${end}` }), alice, p(), {});
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(file.bytes.subarray(start, end + 1))).toBe(true);
    const reqs = fakes.flatMap((f) => f.requests).sort((a, b) => (a.range ?? "").localeCompare(b.range ?? ""));
    expect(reqs).toHaveLength(3);
    expect(reqs).toContainEqual({ id: file.chunks[0]!.id, range: `bytes=${MiB - 10}-${MiB - 1}` });
    expect(reqs).toContainEqual({ id: file.chunks[1]!.id, range: null });
    expect(reqs).toContainEqual({ id: file.chunks[2]!.id, range: "bytes=0-9" });

    const tail = await gatewayForUser(ctx, get({ range: "bytes=-5" }), alice, p(), {});
    expect(Buffer.from(await tail.arrayBuffer()).equals(file.bytes.subarray(file.bytes.length - 5))).toBe(true);
  });

  it("answers 416 for a range beyond the end, and ignores a Range whose If-Range is stale", async () => {
    const res = await gatewayForUser(ctx, get({ range: `bytes=${file.bytes.length}-` }), alice, p(), {});
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe(`bytes */${file.bytes.length}`);
    expect(fakes.flatMap((f) => f.requests)).toEqual([]);
    const stale = await gatewayForUser(ctx, get({ range: "bytes=0-9", "if-range": '"old"' }), alice, p(), {});
    expect(stale.status).toBe(200);
    await stale.body?.cancel();
  });

  it("falls back to another replica when one returns corrupt bytes or fails", async () => {
    const live = await liveReplicas(ctx.prisma, ctx.config, [file.chunks[1]!.id]);
    const holders = live.get(file.chunks[1]!.id)!.map((r) => fakes.find((f) => f.node.id === r.nodeId)!);
    expect(holders).toHaveLength(2);
    for (const [bad, mode] of [
      [0, "corrupt"],
      [1, "corrupt"],
      [0, "error"],
    ] as const) {
      for (const f of fakes) f.mode = "ok";
      holders[bad]!.mode = mode;
      const res = await gatewayForUser(ctx, get(), alice, p(), {});
      expect(Buffer.from(await res.arrayBuffer()).equals(file.bytes)).toBe(true);
    }
    // Both replicas bad: the body breaks off instead of delivering wrong bytes.
    for (const h of holders) h.mode = "corrupt";
    const res = await gatewayForUser(ctx, get(), alice, p(), {});
    await expect(res.arrayBuffer()).rejects.toThrow();
  });

  it("serves an older version and refuses users without read access", async () => {
    const v2 = await put(p(), [randomBytes(5000)], 1);
    const cur = await gatewayForUser(ctx, get(), alice, p(), {});
    expect(Buffer.from(await cur.arrayBuffer()).equals(v2.bytes)).toBe(true);
    const old = await gatewayForUser(ctx, get(), alice, p(), { version: "1" });
    expect(old.headers.get("x-cumulus-version")).toBe("1");
    expect(Buffer.from(await old.arrayBuffer()).equals(file.bytes)).toBe(true);

    await expect(gatewayForUser(ctx, get(), bob, p(), {})).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(gatewayForUser(ctx, get(), null, p(), {})).rejects.toMatchObject({ code: "NOT_FOUND" });
    await grantShare(ctx, alice, {
      path: `${home}/docs`,
      principal: { type: "user", email: "bob@corp.test" },
      permission: "read",
    });
    const shared = await gatewayForUser(ctx, get(), bob, p(), {});
    expect(Buffer.from(await shared.arrayBuffer()).equals(v2.bytes)).toBe(true);
    // Public entries are readable by anyone.
    const pub = await mkdir(ctx, alice, { path: `${home}/public`, parents: false });
    const pubFile = await put(`${home}/public/hello.txt`, [Buffer.from("hello world\n")]);
    await ctx.prisma.entry.update({ where: { id: pub.id }, data: { isPublic: true } });
    const anon = await gatewayForUser(ctx, get(), null, `${home}/public/hello.txt`, {});
    expect(anon.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(anon.headers.get("content-disposition")).toMatch(/^inline;/);
    expect(Buffer.from(await anon.arrayBuffer()).equals(pubFile.bytes)).toBe(true);
  });
});

function unzip(zipPath: string, args: string[]): { stdout: Buffer; status: number | null; stderr: string } {
  const r = spawnSync("unzip", [...args, zipPath], { maxBuffer: 64 * MiB });
  return { stdout: r.stdout, status: r.status, stderr: r.stderr.toString() };
}

describe("folder downloads as zip", () => {
  it("streams a folder with subfolders, empty folders and files, and nothing else", async () => {
    const a = await put(`${home}/album/a.bin`, [randomBytes(MiB + 123)]);
    const b = await put(`${home}/album/sub/b.txt`, [Buffer.from("bee\n")]);
    await mkdir(ctx, alice, { path: `${home}/album/empty`, parents: false });
    await put(`${home}/elsewhere.txt`, [Buffer.from("not in the zip")]);
    const res = await gatewayForUser(ctx, get(), alice, `${home}/album`, {});
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toContain(`filename="album.zip"`);
    const zip = path.join(work, "album.zip");
    await writeFile(zip, Buffer.from(await res.arrayBuffer()));
    expect(unzip(zip, ["-tq"]).status).toBe(0);
    const names = unzip(zip, ["-Z1"]).stdout.toString().trim().split("\n").sort();
    expect(names).toEqual(["album/a.bin", "album/empty/", "album/sub/", "album/sub/b.txt"]);
    expect(unzip(zip, ["-p"]).status).toBe(0);
    expect(spawnSync("unzip", ["-p", zip, "album/a.bin"], { maxBuffer: 64 * MiB }).stdout.equals(a.bytes)).toBe(true);
    expect(spawnSync("unzip", ["-p", zip, "album/sub/b.txt"]).stdout.equals(b.bytes)).toBe(true);
  });
});

describe("share link downloads", () => {
  it("counts downloads against the limit and refuses the one over it without sending or counting", async () => {
    const f = await put(`${home}/linked/report.txt`, [Buffer.from("quarterly numbers\n")]);
    const l = await createShareLink(ctx, alice, { path: `${home}/linked/report.txt`, maxDownloads: 2 });
    // HEAD and ranges that do not start at 0 do not count.
    await gatewayForLink(ctx, get({}, "HEAD"), l.token, null, {});
    const mid = await gatewayForLink(ctx, get({ range: "bytes=5-" }), l.token, null, {});
    expect(await mid.text()).toBe("erly numbers\n");
    for (let i = 0; i < 2; i++) {
      const res = await gatewayForLink(ctx, get(), l.token, null, { download: "1" });
      expect(Buffer.from(await res.arrayBuffer()).equals(f.bytes)).toBe(true);
    }
    await expect(gatewayForLink(ctx, get(), l.token, null, {})).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: l.link.id } })).downloadCount).toBe(2);
    expect(await ctx.prisma.auditEvent.count({ where: { action: "link.download", outcome: "ok" } })).toBe(2);
  });

  it("needs the password's grant, and serves a folder link's files and zip", async () => {
    await put(`${home}/linked/sub/x.txt`, [Buffer.from("x")]);
    const l = await createShareLink(ctx, alice, { path: `${home}/linked`, password: "hunter2 hunter2" });
    await expect(gatewayForLink(ctx, get(), l.token, null, {})).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    const { grant } = await unlockShareLink(ctx, l.token, "hunter2 hunter2");
    const one = await gatewayForLink(ctx, get(), l.token, grant, { path: "/sub/x.txt" });
    expect(await one.text()).toBe("x");
    const zip = await gatewayForLink(ctx, get(), l.token, grant, {});
    expect(zip.headers.get("content-disposition")).toContain(`filename="linked.zip"`);
    const out = path.join(work, "linked.zip");
    await writeFile(out, Buffer.from(await zip.arrayBuffer()));
    expect(unzip(out, ["-Z1"]).stdout.toString().trim().split("\n").sort()).toEqual([
      "linked/report.txt",
      "linked/sub/",
      "linked/sub/x.txt",
    ]);
    await expect(gatewayForLink(ctx, get(), l.token, grant, { path: "/../../elsewhere.txt" })).rejects.toMatchObject({
      code: "INVALID_PATH",
    });
    expect((await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: l.link.id } })).downloadCount).toBe(2);
  });
});
