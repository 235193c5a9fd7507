// The control plane's HTTP server: Next.js behind a plain node:http server of our own,
// because only here is the TCP peer's address known. Route handlers, tRPC and pages see
// Web Request objects without a socket, and `next start` fills X-Forwarded-For with the
// peer only when the client did not send one — so a forged header would have decided
// which IP rule applies. This server resolves the client address once per request
// (trusting X-Forwarded-For only from CUMULUS_TRUSTED_PROXIES) and passes it on in a
// header that no client can set.
import { createServer, type IncomingMessage } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
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

const app = next({ dev: false, dir, hostname, port });
const handle = app.getRequestHandler();
await app.prepare();

const server = createServer((req, res) => {
  stampClientIp(req);
  handle(req, res).catch((err: unknown) => {
    log.error({ err, url: req.url }, "unhandled request error");
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end("internal error: see the control plane's log");
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, hostname, () => {
  log.info({ url: `http://${hostname}:${port}`, trustedProxies: trustedProxies.length }, "control plane listening");
});

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
