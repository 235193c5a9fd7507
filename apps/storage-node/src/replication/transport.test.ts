import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import { HttpChunkTransport } from "./transport.ts";

// The whole-chunk receive path of reconciler copies (fetchChunkInto) against a plain HTTP
// server that answers as a storage node would, and as a broken one would.

const good = Buffer.from("0123456789abcdef".repeat(1000));
let server: http.Server;
let url: string;
const transport = new HttpChunkTransport({ idleTimeoutMs: 5_000 });

// Error answers carry a Content-Length, as a storage node's do (sendJson).
function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const id = req.url!.split("/").pop()!;
    if (req.headers.authorization !== "Bearer tok") {
      sendError(res, 403, "FORBIDDEN", "bad token");
    } else if (id === "good") {
      res.writeHead(200, { "content-length": good.length });
      res.end(good);
    } else if (id === "short") {
      res.writeHead(200, { "content-length": good.length - 1 });
      res.end(good.subarray(1));
    } else if (id === "missing") {
      sendError(res, 404, "NOT_FOUND", "chunk missing is not stored here");
    } else {
      // Cut off in the middle of the body.
      res.writeHead(200, { "content-length": good.length });
      res.write(good.subarray(0, 100));
      res.destroy();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  transport.close();
  await new Promise((r) => server.close(r));
});

const source = () => ({ nodeId: "00000000-0000-4000-8000-000000000001", url });
const fetchInto = (chunk: string, token = "tok", size = good.length) =>
  transport.fetchChunkInto(source(), chunk, size, token, AbortSignal.timeout(10_000), Buffer.alloc(64 * 1024));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  throw new Error("expected a rejection");
}

describe("HttpChunkTransport.fetchChunkInto", () => {
  it("receives the whole body into the caller's buffer, over one reused connection", async () => {
    for (let i = 0; i < 3; i++) {
      const into = Buffer.alloc(64 * 1024);
      const body = await transport.fetchChunkInto(
        source(),
        "good",
        good.length,
        "tok",
        AbortSignal.timeout(10_000),
        into,
      );
      expect(Buffer.from(body!).equals(good)).toBe(true);
      expect(body!.buffer).toBe(into.buffer);
    }
  });

  it("passes the source's error on, refuses a wrong length and reports a cut-off body as unavailable", async () => {
    expect(await codeOf(fetchInto("missing"))).toBe("NOT_FOUND");
    expect(await codeOf(fetchInto("good", "nope"))).toBe("FORBIDDEN");
    expect(await codeOf(fetchInto("short"))).toBe("BAD_REQUEST");
    expect(await codeOf(fetchInto("good", "tok", good.length + 1))).toBe("BAD_REQUEST");
    expect(await codeOf(fetchInto("cut"))).toBe("UNAVAILABLE");
    // The connection pool is still usable after all of that.
    expect(Buffer.from((await fetchInto("good"))!).equals(good)).toBe(true);
  });

  it("leaves https sources to the streaming path", async () => {
    const s = { nodeId: source().nodeId, url: "https://127.0.0.1:1" };
    expect(await transport.fetchChunkInto(s, "good", 1, "tok", AbortSignal.timeout(1_000), Buffer.alloc(1))).toBeNull();
  });
});
