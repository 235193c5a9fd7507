// Test doubles for the reconciler's integration tests: storage nodes that speak the data
// API the reconciler uses (replicate, delete, inventory, chunk reads) over real HTTP,
// keep chunks in memory and sign receipts with their registered key.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { setJoinToken } from "../cluster/join-token.ts";
import { registerNode } from "../nodes/register-node.ts";
import { beginUpload } from "../uploads/begin-upload.ts";
import { commitUpload } from "../uploads/commit-upload.ts";

type Stored = { data: Buffer; mtimeMs: number };

export class FakeNode {
  readonly name: string;
  readonly site: string;
  id = "";
  epoch = 0;
  url = "";
  privateKey!: CryptoKey;
  publicX = "";
  readonly chunks = new Map<string, Stored>();
  /** When set, every request fails with 503 (a node that is up but broken). */
  broken = false;
  replicateCalls = 0;
  private server: http.Server | null = null;
  private readonly joinToken: string;

  constructor(name: string, site: string, joinToken: string) {
    this.name = name;
    this.site = site;
    this.joinToken = joinToken;
  }

  async start(ctx: ControlContext, capacityBytes = 1e12): Promise<this> {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    this.privateKey = privateKey;
    this.publicX = (await exportJWK(publicKey)).x!;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "INTERNAL", message: String(err) } }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    await this.register(ctx, capacityBytes);
    return this;
  }

  /** Registers (again): a new epoch, as after a restart. */
  async register(ctx: ControlContext, capacityBytes = 1e12): Promise<void> {
    const r = await registerNode(ctx, {
      joinToken: this.joinToken,
      name: this.name,
      site: this.site,
      dataUrl: this.url,
      udtAddress: null,
      publicKey: { kty: "OKP", crv: "Ed25519", x: this.publicX },
      usage: { capacityBytes, usedBytes: 0, chunkCount: 0 },
      version: "test",
    });
    this.id = r.nodeId;
    this.epoch = r.epoch;
  }

  receipt(chunk: string, size: number): Promise<string> {
    return new SignJWT({ epoch: this.epoch, chunk, size })
      .setProtectedHeader({ alg: "EdDSA" })
      .setIssuer(this.id)
      .setIssuedAt()
      .sign(this.privateKey);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    if (this.broken) return this.json(res, 503, { error: { code: "UNAVAILABLE", message: "broken" } });
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const claims = token ? (decodeJwt(token) as Record<string, unknown>) : {};
    const m = /^\/chunks\/([0-9a-f]{64})$/.exec(url.pathname);
    if (m && req.method === "GET") {
      const c = this.chunks.get(m[1]!);
      if (!c) return this.json(res, 404, { error: { code: "NOT_FOUND", message: "not here" } });
      res.writeHead(200, { "content-length": c.data.length });
      res.end(c.data);
      return;
    }
    if (m && req.method === "DELETE") {
      const c = this.chunks.get(m[1]!);
      if (!c) return this.json(res, 404, { error: { code: "NOT_FOUND", message: "not here" } });
      const since = claims["ifUnmodifiedSince"];
      if (typeof since === "number" && c.mtimeMs > since)
        return this.json(res, 409, { error: { code: "CONFLICT", message: "modified" } });
      this.chunks.delete(m[1]!);
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === "/inventory") {
      const after = url.searchParams.get("cursor") ?? "";
      const limit = Number(url.searchParams.get("limit") ?? 1000);
      const ids = [...this.chunks.keys()].filter((id) => id > after).sort();
      const page = ids.slice(0, limit);
      return this.json(res, 200, {
        chunks: page.map((id) => ({
          id,
          size: this.chunks.get(id)!.data.length,
          mtimeMs: this.chunks.get(id)!.mtimeMs,
        })),
        next: ids.length > limit ? page[page.length - 1]! : null,
      });
    }
    if (url.pathname === "/replicate" && req.method === "POST") {
      this.replicateCalls++;
      let body = "";
      for await (const b of req) body += String(b);
      const r = JSON.parse(body) as { chunk: string; size: number; readToken: string };
      const sources = (claims["sources"] ?? []) as { nodeId: string; url: string }[];
      if (!this.chunks.has(r.chunk)) {
        let got: Buffer | null = null;
        for (const s of sources) {
          const g = await fetch(`${s.url}/chunks/${r.chunk}`, { headers: { authorization: `Bearer ${r.readToken}` } });
          if (g.status !== 200) continue;
          const data = Buffer.from(await g.arrayBuffer());
          if (createHash("sha256").update(data).digest("hex") !== r.chunk) continue;
          got = data;
          break;
        }
        if (!got) return this.json(res, 503, { error: { code: "UNAVAILABLE", message: "no source" } });
        this.chunks.set(r.chunk, { data: got, mtimeMs: Date.now() + 0.25 });
      }
      return this.json(res, 200, {
        chunk: r.chunk,
        size: r.size,
        receipt: await this.receipt(r.chunk, r.size),
        sourceNodeId: sources[0]?.nodeId ?? null,
        bytesCopied: r.size,
      });
    }
    if (url.pathname === "/replicate/batch" && req.method === "POST") {
      this.replicateCalls++;
      let body = "";
      for await (const b of req) body += String(b);
      const r = JSON.parse(body) as {
        items: { chunk: string; size: number; sources: number[] }[];
        readToken: string;
      };
      const sources = (claims["sources"] ?? []) as { nodeId: string; url: string }[];
      const results = [];
      for (const it of r.items) {
        let from: string | null = null;
        if (!this.chunks.has(it.chunk)) {
          for (const k of it.sources) {
            const s = sources[k];
            if (!s) continue;
            const g = await fetch(`${s.url}/chunks/${it.chunk}`, {
              headers: { authorization: `Bearer ${r.readToken}` },
            });
            if (g.status !== 200) continue;
            const data = Buffer.from(await g.arrayBuffer());
            if (createHash("sha256").update(data).digest("hex") !== it.chunk) continue;
            this.chunks.set(it.chunk, { data, mtimeMs: Date.now() + 0.25 });
            from = s.nodeId;
            break;
          }
          if (from === null) {
            results.push({ ok: false, chunk: it.chunk, code: "UNAVAILABLE", message: "no source" });
            continue;
          }
        }
        results.push({
          ok: true,
          chunk: it.chunk,
          size: it.size,
          receipt: await this.receipt(it.chunk, it.size),
          sourceNodeId: from,
          bytesCopied: from === null ? 0 : it.size,
        });
      }
      return this.json(res, 200, { results });
    }
    return this.json(res, 404, { error: { code: "NOT_FOUND", message: `no route ${req.method} ${url.pathname}` } });
  }
}

export async function startFakeNodes(ctx: ControlContext, specs: [name: string, site: string][]): Promise<FakeNode[]> {
  const joinToken = await setJoinToken(ctx);
  const out: FakeNode[] = [];
  for (const [name, site] of specs) out.push(await new FakeNode(name, site, joinToken).start(ctx));
  return out;
}

export function randomChunks(n: number, size = 2000): { id: string; size: number; data: Buffer }[] {
  return Array.from({ length: n }, () => {
    const data = randomBytes(size);
    return { id: createHash("sha256").update(data).digest("hex"), size, data };
  });
}

/** A whole upload as a client does it: bytes onto each pipeline's nodes, receipts, commit. */
export async function uploadFile(
  ctx: ControlContext,
  user: AuthUser,
  nodes: readonly FakeNode[],
  path: string,
  chunks: { id: string; size: number; data: Buffer }[],
  opts: { baseVersion?: number | null; commit?: boolean } = {},
) {
  const plan = await beginUpload(ctx, user, {
    path,
    size: chunks.reduce((s, c) => s + c.size, 0),
    chunks: chunks.map((c) => ({ id: c.id, size: c.size })),
    baseVersion: opts.baseVersion ?? null,
    parents: true,
  });
  const receipts: Record<string, string[]> = {};
  for (const m of plan.missing) {
    const data = chunks.find((c) => c.id === m.id)!.data;
    receipts[m.id] = [];
    for (const hop of m.pipeline) {
      const node = nodes.find((n) => n.id === hop.nodeId)!;
      node.chunks.set(m.id, { data, mtimeMs: Date.now() + 0.25 });
      receipts[m.id]!.push(await node.receipt(m.id, m.size));
    }
  }
  if (opts.commit === false) return { plan, version: null };
  const committed = await commitUpload(ctx, user, plan.uploadId, { receipts });
  return { plan, ...committed };
}
