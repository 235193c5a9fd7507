import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import { CumulusClient } from "./client.ts";

let server: http.Server;
let url: string;
const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(v));
      };
      if (req.url === "/api/v1/auth/whoami") {
        if (req.headers.authorization !== "Bearer t1")
          return json(401, { error: { code: "UNAUTHENTICATED", message: "invalid or revoked device token" } });
        return json(200, { id: "00000000-0000-4000-8000-000000000001", email: "a@b.c", role: "admin", home: "/" });
      }
      if (req.url?.startsWith("/api/v1/fs/list")) return json(200, { path: "/", entries: [{ name: "x" }] });
      if (req.url === "/api/v1/sysinfo") {
        res.writeHead(404, { "content-type": "text/html" });
        return res.end("<html>not found</html>");
      }
      if (req.url === "/api/v1/fs/mkdir")
        return json(200, {
          id: "00000000-0000-4000-8000-000000000002",
          name: "d",
          path: "/d",
          type: "folder",
          size: 0,
          modifiedAt: "x",
          owner: null,
          version: null,
        });
      json(500, { nope: true });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function caught(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("CumulusClient", () => {
  it("sends the token and site and validates the response", async () => {
    const c = new CumulusClient({ server: url + "/", token: "t1", site: "hq" });
    const me = await c.whoami();
    expect(me.email).toBe("a@b.c");
    const req = seen.at(-1)!;
    expect(req.headers.authorization).toBe("Bearer t1");
    expect(req.headers["x-cumulus-site"]).toBe("hq");
  });

  it("turns the server's error body into an AppError with its code", async () => {
    const err = await caught(new CumulusClient({ server: url, token: "bad" }).whoami());
    expect(err.code).toBe("UNAUTHENTICATED");
    expect(err.message).toBe("invalid or revoked device token");
    expect(err.exitCode).toBe(3);
  });

  it("rejects a response that does not match the protocol schema", async () => {
    const err = await caught(new CumulusClient({ server: url, token: "t1" }).list("/"));
    expect(err.code).toBe("INTERNAL");
    expect(err.message).toMatch(/unexpected response at entries\.0/);
  });

  it("maps a non-JSON 404 to NOT_FOUND naming the route", async () => {
    const err = await caught(new CumulusClient({ server: url, token: "t1" }).sysinfo());
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toContain("GET /api/v1/sysinfo: unexpected HTTP 404");
  });

  it("maps an unexpected error body to INTERNAL", async () => {
    const err = await caught(new CumulusClient({ server: url, token: "t1" }).trash());
    expect(err.code).toBe("INTERNAL");
  });

  it("sends the JSON body and validates the entry", async () => {
    const e = await new CumulusClient({ server: url, token: "t1" }).mkdir("/d", { parents: true });
    expect(e.path).toBe("/d");
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ path: "/d", parents: true });
  });

  it("reports an unreachable server as UNAVAILABLE with its URL", async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const err = await caught(new CumulusClient({ server: `http://127.0.0.1:${port}`, token: "t1" }).whoami());
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toMatch(
      new RegExp(`^cannot reach the Cumulus server at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it("refuses a server URL that is not http(s)", () => {
    expect(() => new CumulusClient({ server: "ftp://x" })).toThrow(AppError);
    expect(() => new CumulusClient({ server: "not a url" })).toThrow(/invalid server URL/);
  });
});
