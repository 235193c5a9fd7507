// The control plane's HTTP server: Next.js behind a plain node:http server of our own,
// because only here is the TCP peer's address known. Route handlers, tRPC and pages see
// Web Request objects without a socket, and `next start` fills X-Forwarded-For with the
// peer only when the client did not send one — so a forged header would have decided
// which IP rule applies. This server resolves the client address once per request
// (trusting X-Forwarded-For only from CUMULUS_TRUSTED_PROXIES) and passes it on in a
// header that no client can set.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip as gzipCb, constants as zlib } from "node:zlib";
import next from "next";
import { createLogger } from "@cumulus/control/logger";
import { CLIENT_IP_HEADER, resolveClientIp } from "@cumulus/control/ip-rules/client-ip";
import { env, serverConfig } from "../src/env.ts";

const e = env();
const { port, hostname, trustedProxies } = serverConfig(process.argv.slice(2), e);
const log = createLogger("web", e.CUMULUS_LOG_LEVEL);
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function stampClientIp(req: IncomingMessage): void {
  const ip = resolveClientIp(req.socket.remoteAddress, req.headers["x-forwarded-for"], trustedProxies);
  // Everything downstream (ours, better-auth's rate limiter, Next's own x-forwarded-for
  // default) then sees the resolved address and nothing the client made up.
  delete req.headers["x-real-ip"];
  if (ip) {
    req.headers[CLIENT_IP_HEADER] = ip;
    req.headers["x-forwarded-for"] = ip;
  } else {
    delete req.headers[CLIENT_IP_HEADER];
    delete req.headers["x-forwarded-for"];
  }
}

const gzip = promisify(gzipCb);
const staticRoot = path.join(dir, ".next", "static");
const STATIC_TYPES: Record<string, string> = {
  ".js": "application/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
type StaticFile = { type: string; raw: Buffer; gz: Buffer } | null;
const staticFiles = new Map<string, Promise<StaticFile>>();

function loadStatic(rel: string): Promise<StaticFile> {
  let p = staticFiles.get(rel);
  if (!p) {
    p = (async () => {
      const file = path.join(staticRoot, rel);
      const type = STATIC_TYPES[path.extname(file)];
      if (!type || !file.startsWith(staticRoot + path.sep)) return null;
      const raw = await readFile(file).catch(() => null);
      if (!raw) return null;
      return { type, raw, gz: await gzip(raw, { level: zlib.Z_BEST_COMPRESSION }) };
    })();
    staticFiles.set(rel, p);
    // A missing file is not remembered: a build in progress may write it in a moment.
    void p.then((f) => {
      if (!f) staticFiles.delete(rel);
    });
  }
  return p;
}

/**
 * The build's JS and CSS chunks, compressed once and then served from memory. Next.js
 * gzips them again on every request, and a cold page load asks for about 1 MiB of them:
 * on a busy machine that CPU sits between the first paint and a usable page. The files
 * are content-hashed, so caching them for the process's life (and a year in browsers)
 * is safe. Anything else, or a file we do not have, goes to Next.js as before.
 */
async function serveStatic(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const url = req.url ?? "";
  if (!url.startsWith("/_next/static/")) return false;
  let rel: string;
  try {
    rel = decodeURIComponent(url.slice("/_next/static/".length).split("?")[0]!);
  } catch {
    return false;
  }
  const f = await loadStatic(rel);
  if (!f) return false;
  const useGzip = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
  const body = useGzip ? f.gz : f.raw;
  res.writeHead(200, {
    "content-type": f.type,
    "content-length": body.length,
    "cache-control": "public, max-age=31536000, immutable",
    vary: "Accept-Encoding",
    ...(useGzip ? { "content-encoding": "gzip" } : {}),
  });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}

const app = next({ dev: false, dir, hostname, port });
const handle = app.getRequestHandler();
await app.prepare();

const server = createServer((req, res) => {
  stampClientIp(req);
  serveStatic(req, res)
    .then((served) => (served ? undefined : handle(req, res)))
    .catch((err: unknown) => {
      log.error({ err, url: req.url }, "unhandled request error");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error: see the control plane's log");
    });
});
server.keepAliveTimeout = 65_000;
server.listen(port, hostname, () => {
  log.info({ url: `http://${hostname}:${port}`, trustedProxies: trustedProxies.length }, "control plane listening");
  void warmStatic();
});

/** Compresses the build's chunks one after another in the background, before anyone asks. */
async function warmStatic(): Promise<void> {
  try {
    const files = await readdir(staticRoot, { recursive: true });
    for (const rel of files) {
      if (stopping) return;
      if (STATIC_TYPES[path.extname(rel)]) await loadStatic(rel.split(path.sep).join("/"));
    }
  } catch (err) {
    log.warn({ err }, "could not pre-compress the web app's static files");
  }
}

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "control plane stopping");
  server.close(() => {
    void app.close().finally(() => process.exit(0));
  });
  server.closeIdleConnections();
  // Long downloads must not hold the supervisor's shutdown forever.
  setTimeout(() => process.exit(0), 5_000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
