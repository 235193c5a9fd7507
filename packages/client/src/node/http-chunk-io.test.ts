import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import type { NodeRef } from "../chunks.ts";
import { HttpChunkIo } from "./http-chunk-io.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const R1 = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJhIn0.sig-1";
const R2 = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJiIn0.sig-2";
const noFetch = () => Promise.reject(new Error("fetch must not be used"));
const noHash = () => {
  throw new Error("the hash argument must not be used");
};

type Handler = (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void;

interface TinyNode {
  ref: NodeRef;
  server: http.Server;
  handler: Handler;
  requests: { method: string; url: string; auth: string | undefined; length: string | undefined }[];
  sockets: Set<unknown>;
}

async function startTiny(name: string): Promise<TinyNode> {
  const t = { requests: [], sockets: new Set() } as unknown as TinyNode;
  t.handler = (_req, _body, res) => {
    res.writeHead(500);
    res.end();
  };
  t.server = http.createServer((req, res) => {
    t.sockets.add(req.socket);
    const parts: Buffer[] = [];
    req.on("data", (b: Buffer) => parts.push(b));
    req.on("end", () => {
      t.requests.push({
        method: req.method!,
        url: req.url!,
        auth: req.headers.authorization,
        length: req.headers["content-length"],
      });
      t.handler(req, Buffer.concat(parts), res);
    });
  });
  await new Promise<void>((r) => t.server.listen(0, "127.0.0.1", r));
  const port = (t.server.address() as AddressInfo).port;
  t.ref = { node: name, site: "hq", url: `http://127.0.0.1:${port}` };
  return t;
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  const s = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(s) });
  res.end(s);
};

let a: TinyNode;
let b: TinyNode;
let io: HttpChunkIo;

beforeEach(async () => {
  a = await startTiny("node-a");
  b = await startTiny("node-b");
  io = new HttpChunkIo({ maxSockets: 4 });
});

afterEach(async () => {
  io.close();
  a.server.closeAllConnections();
  b.server.closeAllConnections();
  await new Promise((r) => a.server.close(r));
  await new Promise((r) => b.server.close(r));
});

describe("HttpChunkIo.putChunk", () => {
  it("sends the chunk bytes intact with Content-Length and returns the receipts, reusing the socket", async () => {
    const stored = new Map<string, Buffer>();
    a.handler = (req, body, res) => {
      const id = req.url!.replace("/chunks/", "");
      stored.set(id, body);
      if (sha(body) !== id) return json(res, 422, { error: { code: "HASH_MISMATCH", message: "bad body" } });
      json(res, 201, { chunk: id, size: body.length, receipts: [R1, R2] });
    };
    for (const size of [1, 300_000, 1024 * 1024 + 7]) {
      const data = randomBytes(size);
      const id = sha(data);
      const r = await io.putChunk(noFetch, a.ref, "tok", id, data);
      expect(r).toEqual([R1, R2]);
      expect(stored.get(id)!.equals(data)).toBe(true);
    }
    expect(a.requests.map((r) => [r.method, r.auth])).toEqual([
      ["PUT", "Bearer tok"],
      ["PUT", "Bearer tok"],
      ["PUT", "Bearer tok"],
    ]);
    expect(a.requests[2]!.length).toBe(String(1024 * 1024 + 7));
    // keep-alive: one connection for sequential requests
    expect(a.sockets.size).toBe(1);
  });

  it("maps a ZErrorBody to its AppError and a bare status to a code, naming the node", async () => {
    const data = randomBytes(1000);
    const id = sha(data);
    a.handler = (_req, _body, res) => json(res, 401, { error: { code: "TOKEN_EXPIRED", message: "token expired" } });
    let err = (await io.putChunk(noFetch, a.ref, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("TOKEN_EXPIRED");
    expect(err.message).toContain("node-a");

    a.handler = (_req, _body, res) => {
      res.writeHead(503, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    };
    err = (await io.putChunk(noFetch, a.ref, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toMatch(/node-a.*unexpected HTTP 503/);

    a.handler = (_req, _body, res) => json(res, 507, { error: { code: "DISK_FULL", message: "disk full" } });
    err = (await io.putChunk(noFetch, a.ref, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("DISK_FULL");

    a.handler = (_req, body, res) => json(res, 201, { chunk: id, size: body.length + 1, receipts: [R1] });
    err = (await io.putChunk(noFetch, a.ref, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("INTERNAL");

    a.handler = (_req, _body, res) => json(res, 201, { nope: true });
    err = (await io.putChunk(noFetch, a.ref, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("INTERNAL");
  });

  it("reports an unreachable node and a timeout as UNAVAILABLE, and an abort as its reason", async () => {
    const data = randomBytes(10);
    const id = sha(data);
    const dead: NodeRef = { node: "node-x", site: "hq", url: "http://127.0.0.1:1" };
    let err = (await io.putChunk(noFetch, dead, "tok", id, data).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("cannot reach storage node node-x");

    a.handler = () => undefined; // never answers
    err = (await io.putChunk(noFetch, a.ref, "tok", id, data, { timeoutMs: 50 }).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("timed out");

    const ac = new AbortController();
    const reason = new Error("stop");
    setTimeout(() => ac.abort(reason), 30);
    const e = await io.putChunk(noFetch, a.ref, "tok", id, data, { signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBe(reason);
  });
});

describe("HttpChunkIo.fetchChunk", () => {
  const data = randomBytes(700_000);
  const id = sha(data);

  it("returns verified bytes, into a reused buffer when given", async () => {
    a.handler = (_req, _body, res) => {
      res.writeHead(200, { "content-length": data.length });
      res.end(data);
    };
    const out = await io.fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash);
    expect(Buffer.from(out).equals(data)).toBe(true);
    const into = Buffer.alloc(1024 * 1024);
    const out2 = await io.fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash, { into });
    expect(out2.buffer).toBe(into.buffer);
    expect(out2.length).toBe(data.length);
    expect(Buffer.from(out2).equals(data)).toBe(true);
    expect(a.requests[0]!.auth).toBe("Bearer tok");
  });

  it("refuses corrupt, truncated and oversized bodies; the next replica serves the chunk", async () => {
    const good: Handler = (_req, _body, res) => {
      res.writeHead(200, { "content-length": data.length });
      res.end(data);
    };
    b.handler = good;
    const corrupt = Buffer.from(data);
    corrupt[1234] = corrupt[1234]! ^ 0xff;
    const cases: [Handler, string][] = [
      [
        (_req, _body, res) => {
          res.writeHead(200, { "content-length": corrupt.length });
          res.end(corrupt);
        },
        "HASH_MISMATCH",
      ],
      [
        (_req, _body, res) => {
          res.writeHead(200, { "content-length": data.length });
          res.write(data.subarray(0, 1000));
          setTimeout(() => res.destroy(), 10);
        },
        "TRUNCATED",
      ],
      [
        (_req, _body, res) => {
          res.writeHead(200);
          res.end(Buffer.concat([data, Buffer.from("extra")]));
        },
        "HASH_MISMATCH",
      ],
      [
        (_req, _body, res) => {
          res.writeHead(200, { "content-length": 10 });
          res.end(data.subarray(0, 10));
        },
        "TRUNCATED",
      ],
      [(_req, _body, res) => json(res, 404, { error: { code: "NOT_FOUND", message: "no such chunk" } }), "NOT_FOUND"],
    ];
    for (const [handler, code] of cases) {
      a.handler = handler;
      // What download-file does: each replica in turn, the first intact answer wins.
      const errors: unknown[] = [];
      let got: Uint8Array | null = null;
      for (const replica of [a.ref, b.ref]) {
        try {
          got = await io.fetchChunk(noFetch, replica, "tok", id, data.length, noHash);
          break;
        } catch (err) {
          errors.push(err);
        }
      }
      expect(errors).toHaveLength(1);
      expect((errors[0] as AppError).code).toBe(code);
      expect((errors[0] as AppError).message).toContain("node-a");
      expect(Buffer.from(got!).equals(data)).toBe(true);
    }
  });

  it("reports an unreachable node and a timeout as UNAVAILABLE, an abort as its reason, a cut body as TRUNCATED", async () => {
    const dead: NodeRef = { node: "node-x", site: "hq", url: "http://127.0.0.1:1" };
    let err = (await io.fetchChunk(noFetch, dead, "tok", id, data.length, noHash).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("cannot reach storage node node-x");

    a.handler = () => undefined; // never answers
    err = (await io
      .fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash, { timeoutMs: 50 })
      .catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("timed out");

    const ac = new AbortController();
    const reason = new Error("stop");
    setTimeout(() => ac.abort(reason), 30);
    const e = await io
      .fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash, { signal: ac.signal })
      .catch((x: unknown) => x);
    expect(e).toBe(reason);

    a.handler = (_req, _body, res) => {
      res.writeHead(200, { "content-length": data.length });
      res.write(data.subarray(0, 1000));
    };
    err = (await io
      .fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash, { timeoutMs: 100 })
      .catch((x: unknown) => x)) as AppError;
    expect(err.code).toBe("TRUNCATED");
    expect(err.message).toContain("timed out");
  });

  it("never opens more connections to a node than maxSockets", async () => {
    a.handler = (_req, _body, res) => {
      res.writeHead(200, { "content-length": data.length });
      setTimeout(() => res.end(data), 5);
    };
    const outs = await Promise.all(
      Array.from({ length: 12 }, () => io.fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash)),
    );
    for (const out of outs) expect(Buffer.from(out).equals(data)).toBe(true);
    expect(a.sockets.size).toBeLessThanOrEqual(4);
  });

  it("keeps working after a node closed an idle keep-alive socket", async () => {
    a.handler = (_req, _body, res) => {
      res.writeHead(200, { "content-length": data.length });
      res.end(data);
    };
    await io.fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash);
    a.server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 20));
    const out = await io.fetchChunk(noFetch, a.ref, "tok", id, data.length, noHash);
    expect(Buffer.from(out).equals(data)).toBe(true);
  });
});
