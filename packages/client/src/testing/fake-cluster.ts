import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { AppError, type ErrorCode } from "@cumulus/protocol/errors";

/**
 * An in-process stand-in for the control plane and storage nodes, just faithful enough
 * to exercise the SDK's retry, restart, resume and fallback logic. Not a protocol
 * reference: the real servers are covered by their own tests and the e2e suite.
 */

export interface FakeNode {
  id: string;
  name: string;
  site: string;
  url: string;
  chunks: Map<string, Buffer>;
  /** Answer this many PUTs with 503 before accepting. */
  failPuts: number;
  /** Refuse every PUT with this code. */
  putError: ErrorCode | null;
  /** GETs of these chunks return flipped bytes. */
  corrupt: Set<string>;
  /** GETs of these chunks are cut off mid-body. */
  truncate: Set<string>;
  puts: number;
  /** PUTs refused because the body did not hash to the chunk id. */
  hashMismatches: number;
  gets: number;
  server: http.Server;
}

interface FakeFile {
  versions: { chunks: { id: string; size: number }[]; size: number }[];
}

export interface FakeCluster {
  url: string;
  nodes: FakeNode[];
  files: Map<string, FakeFile>;
  begins: number;
  commits: { uploadId: string; receipts: Record<string, string[]> }[];
  /** Pipelines handed out by beginUpload: node indexes, chosen per call. */
  pipelineFor: (call: number) => number[];
  /** Commit refuses receipts for these chunks once (details.chunks), then forgets them. */
  rejectReceiptsOnce: Set<string>;
  /** The next commit fails with this error (built from the upload's chunk ids). */
  commitErrorOnce: ((chunks: string[]) => AppError) | null;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
  res.end(s);
}

function sendErr(res: http.ServerResponse, err: AppError): void {
  send(res, err.httpStatus, err.toBody());
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of req as AsyncIterable<Buffer>) parts.push(b);
  return Buffer.concat(parts);
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

async function startNode(name: string, site: string, cluster: () => FakeCluster): Promise<FakeNode> {
  const node = {
    id: randomUUID(),
    name,
    site,
    url: "",
    chunks: new Map(),
    failPuts: 0,
    putError: null,
    corrupt: new Set(),
    truncate: new Set(),
    puts: 0,
    hashMismatches: 0,
    gets: 0,
  } as unknown as FakeNode;
  node.server = http.createServer((req, res) => {
    void (async () => {
      const id = (req.url ?? "").replace(/^\/chunks\//, "").split("?")[0]!;
      if (req.method === "PUT") {
        node.puts++;
        const body = await readBody(req);
        if (node.putError) return sendErr(res, new AppError(node.putError, `injected ${node.putError}`));
        if (node.failPuts > 0) {
          node.failPuts--;
          return sendErr(res, new AppError("UNAVAILABLE", "injected failure"));
        }
        if (sha(body) !== id) {
          node.hashMismatches++;
          return sendErr(res, new AppError("HASH_MISMATCH", "body does not hash to id"));
        }
        // Forwarding along the pipeline is simulated: the token is "tok:<idx>,<idx>".
        const auth = req.headers.authorization ?? "";
        const hops = auth
          .replace(/^Bearer tok:/, "")
          .split(",")
          .map(Number);
        const receipts: string[] = [];
        for (const i of hops) {
          const n = cluster().nodes[i]!;
          n.chunks.set(id, body);
          // Shaped like a compact JWS so that the SDK can read its issuer.
          receipts.push(
            `eyJhbGciOiJFZERTQSJ9.${Buffer.from(JSON.stringify({ iss: n.id, chunk: id })).toString("base64url")}.sig`,
          );
        }
        return send(res, 201, { chunk: id, size: body.length, receipts });
      }
      if (req.method === "GET") {
        node.gets++;
        const data = node.chunks.get(id);
        if (!data) return sendErr(res, new AppError("NOT_FOUND", `chunk not on ${name}`));
        if (node.truncate.has(id)) {
          res.writeHead(200, { "content-length": data.length });
          res.write(data.subarray(0, Math.floor(data.length / 2)));
          setTimeout(() => res.destroy(), 10);
          return;
        }
        const out = Buffer.from(data);
        if (node.corrupt.has(id)) out[out.length >> 1] = out[out.length >> 1]! ^ 0xff;
        res.writeHead(200, { "content-length": out.length });
        res.end(out);
        return;
      }
      sendErr(res, new AppError("BAD_REQUEST", "no"));
    })().catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  node.url = await listen(node.server);
  return node;
}

export async function startFakeCluster(opts: { nodes?: [string, string][] } = {}): Promise<FakeCluster> {
  const specs = opts.nodes ?? [
    ["hq-1", "hq"],
    ["hq-2", "hq"],
    ["branch-1", "branch"],
  ];
  const uploads = new Map<
    string,
    {
      path: string;
      size: number;
      chunks: { id: string; size: number }[];
      missing: Set<string>;
      baseVersion: number | null;
    }
  >();
  const cluster = {
    url: "",
    nodes: [] as FakeNode[],
    files: new Map<string, FakeFile>(),
    begins: 0,
    commits: [],
    pipelineFor: () => [0, 2],
    rejectReceiptsOnce: new Set<string>(),
    commitErrorOnce: null,
  } as unknown as FakeCluster;
  for (const [name, site] of specs) cluster.nodes.push(await startNode(name, site, () => cluster));

  const stored = (id: string) => cluster.nodes.some((n) => n.chunks.has(id));
  // Like the real control plane, a chunk counts as present only once a commit recorded it;
  // bytes sitting on nodes from an unfinished upload do not.
  const committed = new Set<string>();
  const pipelineNode = (i: number) => {
    const n = cluster.nodes[i]!;
    return { nodeId: n.id, node: n.name, site: n.site, url: n.url };
  };
  const entry = (path: string, f: FakeFile) => ({
    id: "00000000-0000-4000-8000-000000000001",
    name: path.split("/").pop()!,
    path,
    type: "file",
    size: f.versions.at(-1)!.size,
    modifiedAt: new Date().toISOString(),
    owner: null,
    version: f.versions.length,
  });

  const control = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      const body = req.method === "POST" ? JSON.parse((await readBody(req)).toString("utf8") || "{}") : null;
      if (req.headers.authorization !== "Bearer good-token")
        return sendErr(res, new AppError("UNAUTHENTICATED", "bad token"));
      if (req.method === "POST" && url.pathname === "/api/v1/uploads") {
        const call = cluster.begins++;
        const existing = cluster.files.get(body.path);
        const current = existing ? existing.versions.length : null;
        if (body.baseVersion !== current)
          return sendErr(res, new AppError("CONFLICT", `${body.path} changed: current version is ${current}`));
        const missingIds = [...new Set<string>(body.chunks.map((c: { id: string }) => c.id))].filter(
          (id) => !committed.has(id) || !stored(id),
        );
        const uploadId = randomUUID();
        uploads.set(uploadId, {
          path: body.path,
          size: body.size,
          chunks: body.chunks,
          missing: new Set(missingIds),
          baseVersion: body.baseVersion,
        });
        const hops = cluster.pipelineFor(call);
        const sizes = new Map<string, number>(body.chunks.map((c: { id: string; size: number }) => [c.id, c.size]));
        return send(res, 200, {
          uploadId,
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          missing: missingIds.map((id) => ({
            id,
            size: sizes.get(id),
            pipeline: hops.map(pipelineNode),
            token: `tok:${hops.join(",")}`,
          })),
        });
      }
      const commit = /^\/api\/v1\/uploads\/([^/]+)\/commit$/.exec(url.pathname);
      if (req.method === "POST" && commit) {
        const up = uploads.get(commit[1]!);
        if (!up) return sendErr(res, new AppError("NOT_FOUND", "no such upload"));
        cluster.commits.push({ uploadId: commit[1]!, receipts: body.receipts });
        if (cluster.commitErrorOnce) {
          const make = cluster.commitErrorOnce;
          cluster.commitErrorOnce = null;
          return sendErr(res, make([...up.missing]));
        }
        const rejected = [...up.missing].filter((id) => cluster.rejectReceiptsOnce.has(id));
        if (rejected.length > 0) {
          for (const id of rejected) {
            cluster.rejectReceiptsOnce.delete(id);
            for (const n of cluster.nodes) n.chunks.delete(id);
          }
          return sendErr(res, new AppError("BAD_REQUEST", "stale receipts", { chunks: rejected }));
        }
        const unproven = [...up.missing].filter(
          (id) => !body.receipts[id] || body.receipts[id].length === 0 || !stored(id),
        );
        if (unproven.length > 0)
          return sendErr(res, new AppError("BAD_REQUEST", "receipts refused", { chunks: unproven }));
        uploads.delete(commit[1]!);
        const f = cluster.files.get(up.path) ?? { versions: [] };
        if ((f.versions.length || null) !== up.baseVersion)
          return sendErr(res, new AppError("CONFLICT", `${up.path} changed meanwhile`));
        f.versions.push({ chunks: up.chunks, size: up.size });
        for (const c of up.chunks) committed.add(c.id);
        cluster.files.set(up.path, f);
        return send(res, 200, { entry: entry(up.path, f), version: f.versions.length });
      }
      if (req.method === "GET" && url.pathname === "/api/v1/downloads") {
        const p = url.searchParams.get("path")!;
        const f = cluster.files.get(p);
        if (!f) return sendErr(res, new AppError("NOT_FOUND", `${p} does not exist`));
        const vn = Number(url.searchParams.get("version") ?? f.versions.length);
        const v = f.versions[vn - 1]!;
        let offset = 0;
        return send(res, 200, {
          path: p,
          size: v.size,
          version: vn,
          chunks: v.chunks.map((c) => {
            const replicas = cluster.nodes
              .map((n, i) => (n.chunks.has(c.id) ? pipelineNode(i) : null))
              .filter((x) => x !== null);
            const out = { id: c.id, size: c.size, offset, replicas, token: "read-token" };
            offset += c.size;
            return out;
          }),
        });
      }
      if (req.method === "GET" && url.pathname === "/api/v1/fs/stat") {
        const p = url.searchParams.get("path")!;
        const f = cluster.files.get(p);
        if (!f) return sendErr(res, new AppError("NOT_FOUND", `${p} does not exist`));
        return send(res, 200, {
          entry: entry(p, f),
          path: p,
          size: f.versions.at(-1)!.size,
          versions: f.versions.length,
          version: f.versions.length,
          policy: { replicas: 2, requiredSites: [], allowedSites: [], pinnedNodes: [] },
          chunks: [],
        });
      }
      sendErr(res, new AppError("NOT_FOUND", `no route ${req.method} ${url.pathname}`));
    })().catch((err: unknown) => sendErr(res, new AppError("INTERNAL", String(err))));
  });
  cluster.url = await listen(control);
  cluster.close = async () => {
    for (const s of [control, ...cluster.nodes.map((n) => n.server)]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  };
  return cluster;
}
