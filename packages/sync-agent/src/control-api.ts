import { randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import {
  ZAgentSettingsInput,
  ZSelectiveInput,
  ZSignIn,
  type AgentEndpoint,
  type AgentStatus,
} from "@cumulus/protocol/agent";
import type { SyncAgent } from "./agent.ts";

export interface ControlApiOptions {
  /** 0: any free port. */
  port?: number;
  /** Static UI to serve at "/" (index.html and assets), e.g. apps/desktop/out/renderer. */
  uiDir?: string;
  /** Default: 32 random bytes, hex. */
  secret?: string;
}

export interface ControlApi {
  port: number;
  secret: string;
  url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

/** HTTP status of the AppError codes the agent passes on (sign-in, settings). */
const STATUS_OF: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  BAD_REQUEST: 400,
};

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/**
 * The agent's local control API (routes in packages/protocol/src/agent.ts) on 127.0.0.1.
 * Every /api request needs `Authorization: Bearer <secret>` (compared in constant time);
 * a Host header that is not loopback is refused so a web page cannot reach the API
 * through DNS rebinding. The port and secret go to `<stateDir>/agent.json` (0600).
 */
export async function startControlApi(agent: SyncAgent, opts: ControlApiOptions = {}): Promise<ControlApi> {
  const secret = opts.secret ?? randomBytes(32).toString("hex");
  const secretBuf = Buffer.from(secret);
  const sse = new Set<http.ServerResponse>();

  const authorized = (req: http.IncomingMessage): boolean => {
    const h = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/.exec(h);
    if (!m) return false;
    const got = Buffer.from(m[1]!);
    return got.length === secretBuf.length && timingSafeEqual(got, secretBuf);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof Error && err.name === "ZodError"
            ? new HttpError(400, "BAD_REQUEST", `invalid request: ${zodSummary(err)}`)
            : new HttpError(
                STATUS_OF[String((err as { code?: string }).code)] ?? 500,
                String((err as { code?: string }).code ?? "INTERNAL"),
                err instanceof Error ? err.message : String(err),
              );
      if (!res.headersSent) send(res, e.status, { error: { code: e.code, message: e.message } });
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    if (!["127.0.0.1", "localhost", "[::1]"].includes(host))
      throw new HttpError(403, "FORBIDDEN", "the agent only answers requests addressed to 127.0.0.1 or localhost");
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (!url.pathname.startsWith("/api/")) return serveStatic(url.pathname, res);
    if (!authorized(req)) throw new HttpError(401, "UNAUTHENTICATED", "wrong or missing agent secret");
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case "GET /api/status":
        return send(res, 200, agent.status());
      case "GET /api/activity": {
        const raw = url.searchParams.get("limit") ?? "50";
        const limit = Number(raw);
        if (!/^\d+$/.test(raw) || limit < 1 || limit > 200)
          throw new HttpError(400, "BAD_REQUEST", "limit must be a whole number from 1 to 200");
        return send(res, 200, { items: agent.recentActivity(limit) });
      }
      case "GET /api/errors":
        return send(res, 200, { items: agent.currentErrors() });
      case "POST /api/pause":
        await readJson(req, true);
        return send(res, 200, agent.pause());
      case "POST /api/resume":
        await readJson(req, true);
        return send(res, 200, agent.resume());
      case "GET /api/tree":
        return send(res, 200, agent.folderChildren(url.searchParams.get("path") ?? "/"));
      case "PUT /api/selective": {
        const body = ZSelectiveInput.parse(await readJson(req));
        return send(res, 200, await agent.updateSettings({ excluded: body.excluded }));
      }
      case "GET /api/settings":
        return send(res, 200, agent.getSettings());
      case "PUT /api/settings":
        return send(res, 200, await agent.updateSettings(ZAgentSettingsInput.parse(await readJson(req))));
      case "POST /api/sign-in":
        return send(res, 200, await agent.signIn(ZSignIn.parse(await readJson(req))));
      case "POST /api/sign-out":
        await readJson(req, true);
        return send(res, 200, await agent.signOut());
      case "GET /api/events": {
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          connection: "keep-alive",
        });
        res.write(`data: ${JSON.stringify(agent.status())}\n\n`);
        sse.add(res);
        req.on("close", () => sse.delete(res));
        return;
      }
      default:
        throw new HttpError(404, "NOT_FOUND", `no route ${route}`);
    }
  }

  async function serveStatic(pathname: string, res: http.ServerResponse): Promise<void> {
    if (!opts.uiDir) throw new HttpError(404, "NOT_FOUND", "this agent serves no UI");
    const root = path.resolve(opts.uiDir);
    let rel = decodeURIComponent(pathname);
    if (rel === "/" || rel === "") rel = "/index.html";
    const file = path.resolve(root, "." + rel);
    if (file !== root && !file.startsWith(root + path.sep)) throw new HttpError(404, "NOT_FOUND", "not found");
    let target = file;
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) target = path.join(root, "index.html"); // client-side routes
    const ext = path.extname(target);
    res.writeHead(200, {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // The secret travels in the fragment; a strict CSP and no referrer keep it in this page.
      "referrer-policy": "no-referrer",
      "content-security-policy":
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    });
    await new Promise<void>((resolve, reject) => {
      createReadStream(target).on("error", reject).on("end", resolve).pipe(res);
    });
  }

  const onStatus = (s: AgentStatus) => {
    const line = `data: ${JSON.stringify(s)}\n\n`;
    for (const r of sse) r.write(line);
  };
  agent.on("status", onStatus);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint: AgentEndpoint = { port, secret, pid: process.pid };
  await writeFile(path.join(agent.stateDir, "agent.json"), JSON.stringify(endpoint), { mode: 0o600 });

  return {
    port,
    secret,
    url: `http://127.0.0.1:${port}`,
    async close() {
      agent.off("status", onStatus);
      for (const r of sse) r.end();
      sse.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(text);
}

/** The JSON body (bounded); `optional`: an empty body is fine. */
async function readJson(req: http.IncomingMessage, optional = false): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_BODY) throw new HttpError(413, "PAYLOAD_TOO_LARGE", `bodies are limited to ${MAX_BODY} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "PAYLOAD_TOO_LARGE", `bodies are limited to ${MAX_BODY} bytes`);
    parts.push(chunk);
  }
  const text = Buffer.concat(parts).toString("utf8");
  if (text.trim() === "") {
    if (optional) return {};
    throw new HttpError(400, "BAD_REQUEST", "a JSON body is required");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "BAD_REQUEST", "the body is not valid JSON");
  }
}

/** "path: message" of each issue of a zod error, without depending on zod here. */
function zodSummary(err: Error): string {
  const issues = (err as Error & { issues?: { path: PropertyKey[]; message: string }[] }).issues ?? [];
  return issues.length > 0 ? issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ") : err.message;
}
