import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ZAgentEndpoint, ZAgentSettings, ZAgentStatus } from "@cumulus/protocol/agent";
import { SyncAgent } from "./agent.ts";
import { startControlApi, type ControlApi } from "./control-api.ts";

let dir: string;
let agent: SyncAgent;
let api: ControlApi;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "agent-api-"));
  await mkdir(path.join(dir, "folder"));
  await mkdir(path.join(dir, "ui", "assets"), { recursive: true });
  await writeFile(path.join(dir, "ui", "index.html"), "<!doctype html><title>Cumulus</title>");
  await writeFile(path.join(dir, "ui", "assets", "app.js"), "console.log(1)");
  // No credentials: the agent stays signed out, which is all the API needs to be exercised.
  agent = new SyncAgent({
    localDir: path.join(dir, "folder"),
    remotePath: "/home/x",
    stateDir: path.join(dir, "state"),
    device: "test",
    server: null,
    token: null,
  });
  await agent.start();
  api = await startControlApi(agent, { uiDir: path.join(dir, "ui") });
});
afterEach(async () => {
  await api.close();
  await agent.stop();
  await rm(dir, { recursive: true, force: true });
});

type Res = { status: number; body: string; headers: http.IncomingHttpHeaders };

function request(
  method: string,
  route: string,
  opts: { auth?: string | null; body?: string; host?: string; headers?: Record<string, string> } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: opts.host ?? `127.0.0.1:${api.port}`, ...opts.headers };
    const auth = opts.auth === undefined ? api.secret : opts.auth;
    if (auth !== null) headers.authorization = `Bearer ${auth}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const req = http.request({ host: "127.0.0.1", port: api.port, method, path: route, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

describe("local control API", () => {
  it("writes agent.json (0600) with the port and secret, and answers the status with them", async () => {
    const file = path.join(dir, "state", "agent.json");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const ep = ZAgentEndpoint.parse(JSON.parse(await readFile(file, "utf8")));
    expect(ep).toEqual({ port: api.port, secret: api.secret, pid: process.pid });
    const res = await request("GET", "/api/status");
    expect(res.status).toBe(200);
    const s = ZAgentStatus.parse(JSON.parse(res.body));
    expect(s.state).toBe("signed-out");
    expect(s.device).toBe("test");
    // Each snapshot is numbered, so a reader can drop one that arrives after a newer one.
    const again = ZAgentStatus.parse(JSON.parse((await request("GET", "/api/status")).body));
    expect(again.startedAt).toBe(s.startedAt);
    expect(again.revision).toBeGreaterThan(s.revision);
  });

  it("refuses a missing or wrong secret (401) and a non-loopback Host (403)", async () => {
    expect((await request("GET", "/api/status", { auth: null })).status).toBe(401);
    expect((await request("GET", "/api/status", { auth: "x".repeat(64) })).status).toBe(401);
    const rebinding = await request("GET", "/api/status", { host: "evil.example:80" });
    expect(rebinding.status).toBe(403);
    expect(JSON.parse(rebinding.body).error.code).toBe("FORBIDDEN");
    expect((await request("GET", "/", { host: "evil.example" })).status).toBe(403);
  });

  it("pauses and resumes", async () => {
    expect(JSON.parse((await request("POST", "/api/pause")).body).state).toBe("paused");
    expect(JSON.parse((await request("GET", "/api/status")).body).state).toBe("paused");
    expect(JSON.parse((await request("POST", "/api/resume")).body).state).not.toBe("paused");
  });

  it("updates settings and selective sync; bad input gets 400/413 and changes nothing", async () => {
    const sel = await request("PUT", "/api/selective", { body: JSON.stringify({ excluded: ["/big", "/a/b/"] }) });
    expect(sel.status).toBe(200);
    expect(ZAgentSettings.parse(JSON.parse(sel.body)).excluded).toEqual(["/a/b", "/big"]);
    const before = (await request("GET", "/api/settings")).body;

    const bad = [
      await request("PUT", "/api/settings", { body: "{not json" }),
      await request("PUT", "/api/settings", { body: JSON.stringify({ uploadLimit: -1 }) }),
      await request("PUT", "/api/selective", { body: JSON.stringify({ excluded: ["relative"] }) }),
      await request("PUT", "/api/selective", { body: "" }),
      await request("GET", "/api/activity?limit=0"),
    ];
    for (const r of bad) {
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe("BAD_REQUEST");
    }
    const huge = await request("PUT", "/api/settings", {
      body: JSON.stringify({ excluded: ["/" + "x".repeat(70_000)] }),
    });
    expect(huge.status).toBe(413);
    expect((await request("GET", "/api/settings")).body).toBe(before);
    expect((await request("GET", "/api/nope")).status).toBe(404);
  });

  it("lists activity and errors", async () => {
    expect(JSON.parse((await request("GET", "/api/activity?limit=5")).body)).toEqual({ items: [] });
    expect(JSON.parse((await request("GET", "/api/errors")).body)).toEqual({ items: [] });
    expect(JSON.parse((await request("GET", "/api/tree?path=/")).body)).toEqual({ path: "/", children: [] });
  });

  it("streams status changes as server-sent events", async () => {
    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: api.port,
          path: "/api/events",
          headers: { host: `127.0.0.1:${api.port}`, authorization: `Bearer ${api.secret}` },
        },
        (res) => {
          expect(res.headers["content-type"]).toBe("text/event-stream");
          res.on("data", (d: Buffer) => {
            for (const line of d.toString("utf8").split("\n"))
              if (line.startsWith("data: ")) events.push(line.slice(6));
            if (events.length === 1) void request("POST", "/api/pause");
            if (events.length >= 2) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on("error", reject);
      req.end();
    });
    await done;
    expect(events.map((e) => ZAgentStatus.parse(JSON.parse(e)).state)).toEqual(["signed-out", "paused"]);
  });

  it("serves the UI without a secret but never files outside its folder", async () => {
    const index = await request("GET", "/", { auth: null });
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toMatch(/text\/html/);
    expect(index.body).toContain("Cumulus");
    const js = await request("GET", "/assets/app.js", { auth: null });
    expect(js.headers["content-type"]).toMatch(/javascript/);
    const escape = await request("GET", "/..%2f..%2fstate%2fagent.json", { auth: null });
    expect(escape.body).not.toContain(api.secret);
  });
});

describe("an agent without a folder yet", () => {
  it("reports no-folder once signed in, and starts syncing the folder set through /api/settings", async () => {
    const stateDir = path.join(dir, "state2");
    await mkdir(stateDir);
    // Signed in (as /api/sign-in would leave it) against a server that is not there.
    await writeFile(
      path.join(stateDir, "credentials.json"),
      JSON.stringify({ server: "http://127.0.0.1:9", token: "t" }),
    );
    const lone = new SyncAgent({
      localDir: null,
      remotePath: "/home/x",
      stateDir,
      device: "d",
      server: null,
      token: null,
    });
    await lone.start();
    const loneApi = await startControlApi(lone);
    try {
      expect(lone.status().state).toBe("no-folder");
      const res = await fetch(`${loneApi.url}/api/settings`, {
        method: "PUT",
        headers: { authorization: `Bearer ${loneApi.secret}`, "content-type": "application/json" },
        body: JSON.stringify({ localDir: path.join(dir, "folder") }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { localDir: string }).localDir).toBe(path.join(dir, "folder"));
      expect(lone.status().state).not.toBe("no-folder");
      expect(lone.status().localDir).toBe(path.join(dir, "folder"));
    } finally {
      await loneApi.close();
      await lone.stop();
    }
  });
});
