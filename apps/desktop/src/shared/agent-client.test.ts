// The API client against a tiny real HTTP server that speaks the control-API contract for a
// few routes: authorization, validation both ways, the error shape, and the event stream
// with its polling fallback.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeSettings, makeStatus } from "../testing/factories.ts";
import { AgentApiError, createAgentClient, sseData, type AgentClient } from "./agent-client.ts";

const SECRET = "s".repeat(40);

type Seen = { method: string; url: string; body: string };
let server: Server;
let seen: Seen[];
let client: AgentClient;
let streams: ServerResponse[];
let eventsEnabled: boolean;
let status = makeStatus();
let settings = makeSettings();

function json(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function handler(req: IncomingMessage, res: ServerResponse) {
  let body = "";
  for await (const chunk of req) body += chunk;
  seen.push({ method: req.method ?? "", url: req.url ?? "", body });
  if (req.headers.authorization !== `Bearer ${SECRET}`)
    return json(res, 401, { error: { code: "UNAUTHORIZED", message: "wrong agent secret" } });
  const url = new URL(req.url ?? "/", "http://x");
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case "GET /api/status":
      return json(res, 200, status);
    case "POST /api/pause":
      status = makeStatus({ state: "paused", message: "Paused" });
      return json(res, 200, status);
    case "GET /api/activity":
      return json(res, 200, {
        items: [{ at: 2, action: "upload", path: "/a.txt", side: "local" }].slice(
          0,
          Number(url.searchParams.get("limit")),
        ),
      });
    case "GET /api/tree":
      if (url.searchParams.get("path") === "/broken")
        return json(res, 200, { path: "/broken", children: [{ name: 1 }] });
      return json(res, 200, {
        path: url.searchParams.get("path"),
        children: [{ path: "/Docs", name: "Docs", hasChildren: true, included: "partial" }],
      });
    case "PUT /api/selective":
      settings = makeSettings({ excluded: JSON.parse(body).excluded });
      return json(res, 200, settings);
    case "PUT /api/settings":
      settings = makeSettings({ ...settings, ...JSON.parse(body) });
      return json(res, 200, settings);
    case "POST /api/sign-in":
      if (JSON.parse(body).password !== "right")
        return json(res, 401, { error: { code: "AUTH", message: "wrong email or password" } });
      return json(res, 200, makeStatus({ state: "no-folder", localDir: null }));
    case "GET /api/events":
      if (!eventsEnabled) return json(res, 404, { error: { code: "NOT_FOUND", message: "no events here" } });
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": hello\n\n");
      streams.push(res);
      return;
    default:
      return json(res, 404, { error: { code: "NOT_FOUND", message: `no route ${route}` } });
  }
}

beforeEach(async () => {
  seen = [];
  streams = [];
  eventsEnabled = true;
  status = makeStatus();
  settings = makeSettings();
  server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  client = createAgentClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    secret: SECRET,
  });
});
afterEach(async () => {
  for (const s of streams) s.end();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Resolves with the first `n` values pushed to the returned callback. */
function collect<T>(n: number) {
  const got: T[] = [];
  let done!: (v: T[]) => void;
  const all = new Promise<T[]>((r) => (done = r));
  return {
    push: (v: T) => {
      got.push(v);
      if (got.length === n) done(got);
    },
    all,
  };
}

describe("agent client", () => {
  it("sends the secret and validates what comes back", async () => {
    expect(await client.status()).toEqual(status);
    expect(await client.activity(5)).toEqual([{ at: 2, action: "upload", path: "/a.txt", side: "local" }]);
    expect(await client.tree("/")).toEqual({
      path: "/",
      children: [{ path: "/Docs", name: "Docs", hasChildren: true, included: "partial" }],
    });
    expect((await client.pause()).state).toBe("paused");
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "GET /api/status",
      "GET /api/activity?limit=5",
      "GET /api/tree?path=%2F",
      "POST /api/pause",
    ]);
  });

  it("turns the agent's error body into an AgentApiError with code and message", async () => {
    const bad = createAgentClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      secret: "nope",
    });
    await expect(bad.status()).rejects.toMatchObject({
      name: "AgentApiError",
      code: "UNAUTHORIZED",
      status: 401,
      message: "wrong agent secret",
    });
    await expect(
      client.signIn({ server: "http://127.0.0.1:3000", email: "a@b.c", password: "wrong" }),
    ).rejects.toMatchObject({ code: "AUTH", message: "wrong email or password" });
    const ok = await client.signIn({ server: "http://127.0.0.1:3000", email: "a@b.c", password: "right" });
    expect(ok.state).toBe("no-folder");
  });

  it("refuses an answer that does not match the contract", async () => {
    await expect(client.tree("/broken")).rejects.toMatchObject({ code: "BAD_RESPONSE" });
  });

  it("rejects bad input before sending anything", async () => {
    const cases: Array<[() => Promise<unknown>, RegExp]> = [
      [() => client.signIn({ server: "not a url", email: "a@b.c", password: "x" }), /sign-in: server/],
      [() => client.signIn({ server: "http://h", email: "", password: "x" }), /sign-in: email/],
      [() => client.setSelective(["Photos"]), /selective sync: excluded\.0/],
      [() => client.updateSettings({ uploadLimit: -1 }), /settings: uploadLimit/],
      [() => client.updateSettings({ colour: "red" } as never), /settings/],
      [() => client.tree("relative"), /must start with "\/"/],
      [() => client.activity(0), /positive integer/],
    ];
    for (const [call, msg] of cases) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AgentApiError);
      expect((err as AgentApiError).code).toBe("INVALID_INPUT");
      expect((err as Error).message).toMatch(msg);
    }
    expect(seen).toEqual([]);
  });

  it("sends valid changes as JSON", async () => {
    expect((await client.setSelective(["/Photos"])).excluded).toEqual(["/Photos"]);
    expect((await client.updateSettings({ uploadLimit: 1024, notifications: false })).uploadLimit).toBe(1024);
    expect(seen.map((s) => [s.method, s.url, JSON.parse(s.body)])).toEqual([
      ["PUT", "/api/selective", { excluded: ["/Photos"] }],
      ["PUT", "/api/settings", { uploadLimit: 1024, notifications: false }],
    ]);
  });

  it("says clearly when no agent listens", async () => {
    const port = (server.address() as AddressInfo).port;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    await expect(
      createAgentClient({ baseUrl: `http://127.0.0.1:${port}`, secret: SECRET }).status(),
    ).rejects.toMatchObject({
      code: "UNREACHABLE",
      message: expect.stringMatching(/does not answer.*is it running\?/),
    });
  });

  it("follows the event stream, skipping malformed events", async () => {
    const got = collect<string>(2);
    const states: string[] = [];
    const stop = client.subscribe((s) => got.push(s.state), { onConnection: (c) => states.push(c) });
    while (streams.length === 0) await new Promise((r) => setTimeout(r, 5));
    const res = streams[0]!;
    res.write(`data: ${JSON.stringify(makeStatus({ state: "syncing" }))}\n\n`);
    res.write(`data: {"state":"nonsense"}\n\n`);
    const paused = JSON.stringify(makeStatus({ state: "paused" }));
    // An event split across writes, with CRLF line ends.
    res.write(`data: ${paused.slice(0, 10)}`);
    res.write(`${paused.slice(10)}\r\n\r\n`);
    expect(await got.all).toEqual(["syncing", "paused"]);
    expect(states).toEqual(["live"]);
    stop();
  });

  it("reconnects to the event stream after the agent closes it", async () => {
    const got = collect<string>(3);
    const stop = client.subscribe((s) => got.push(s.state), { pollMs: 1, pollsBetweenStreamRetries: 1000 });
    while (streams.length === 0) await new Promise((r) => setTimeout(r, 5));
    streams[0]!.end();
    // One poll (up-to-date), then the stream again.
    while (streams.length < 2) await new Promise((r) => setTimeout(r, 5));
    streams[1]!.write(`data: ${JSON.stringify(makeStatus({ state: "offline" }))}\n\n`);
    streams[1]!.write(`data: ${JSON.stringify(makeStatus({ state: "syncing" }))}\n\n`);
    expect(await got.all).toEqual(["up-to-date", "offline", "syncing"]);
    stop();
  });

  it("falls back to polling /api/status when there is no event stream", async () => {
    eventsEnabled = false;
    const got = collect<string>(2);
    const stop = client.subscribe((s) => got.push(s.state), { pollMs: 1, pollsBetweenStreamRetries: 1 });
    expect(await got.all).toEqual(["up-to-date", "up-to-date"]);
    stop();
    const routes = seen.map((s) => s.url);
    expect(routes.filter((r) => r === "/api/events").length).toBeGreaterThanOrEqual(2);
    expect(routes).toContain("/api/status");
  });
});

describe("sseData", () => {
  it("joins multi-line data and ignores comments, names and ids", async () => {
    const text = ": ping\nevent: status\nid: 7\ndata: a\ndata:b\n\ndata: c\n\n";
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of text) c.enqueue(new TextEncoder().encode(ch));
        c.close();
      },
    });
    const out: string[] = [];
    for await (const d of sseData(body)) out.push(d);
    expect(out).toEqual(["a\nb", "c"]);
  });
});
