import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Metrics } from "../service/metrics.ts";
import type { DataApi } from "./routes.ts";

/**
 * The control plane keeps capability tokens under 8 KiB, but a token can arrive in the
 * query string as well as a header; 64 KiB leaves room for both without letting
 * unauthenticated clients pin megabytes per connection.
 */
const MAX_HEADER_BYTES = 64 * 1024;

export class DataServer {
  readonly server: http.Server;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private closing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(api: DataApi, metrics: Metrics, log: Logger) {
    this.metrics = metrics;
    this.log = log;
    this.server = http.createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: 120_000,
      headersTimeout: 30_000,
      keepAliveTimeout: 5_000,
    });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean) => {
      this.metrics.inflight += 1;
      // Connections reused during shutdown would keep it waiting on new requests.
      if (this.closing) res.setHeader("connection", "close");
      res.once("close", () => {
        this.metrics.inflight -= 1;
        if (this.metrics.inflight === 0) this.notifyIdle();
      });
      api.handle(req, res, expectContinue).catch((err: unknown) => {
        this.log.error({ err }, "request handler crashed");
        res.destroy();
      });
    };
    this.server.on("request", (req, res) => onRequest(req, res, false));
    // With a listener here Node does not answer "100 Continue" itself, so a PUT refused
    // from its headers (auth, size) never has its body sent at all.
    this.server.on("checkContinue", (req, res) => onRequest(req, res, true));
    this.server.on("clientError", (err, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
      else socket.destroy();
      this.log.debug({ err: err.message }, "client error");
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Stops accepting, lets in-flight requests finish until `deadlineMs`, then cuts what is
   * left. Resolves with the number of requests that were cut.
   */
  async shutdown(deadlineMs: number): Promise<number> {
    this.closing = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    this.log.info({ inflight: this.metrics.inflight }, "stopped accepting connections; draining in-flight requests");
    if (this.metrics.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.idleWaiters.push(r)),
        new Promise<void>((r) => (timer = setTimeout(r, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    const cut = this.metrics.inflight;
    this.server.closeAllConnections();
    await closed;
    return cut;
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
