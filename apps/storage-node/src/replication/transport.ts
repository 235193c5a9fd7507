import http from "node:http";
import https from "node:https";
import { AppError } from "@cumulus/protocol/errors";
import type { PipelineHop } from "@cumulus/protocol/node-api";

/**
 * How a node pulls a chunk from another node for a reconciler copy. Behind an interface
 * so cross-site copies can move to UDT (native/udt) without touching the replication
 * logic: an implementation only has to hand back the chunk's bytes, unverified (the
 * caller's chunk store hashes them on the way in).
 */
export interface ChunkTransport {
  fetchChunk(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>>;
  close(): void;
}

const MAX_ERROR_BODY = 64 * 1024;

/** GET <source>/chunks/<id> over HTTP(S) with keep-alive connections. */
export class HttpChunkTransport implements ChunkTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly idleTimeoutMs: number;

  constructor(opts: { idleTimeoutMs?: number } = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  }

  fetchChunk(
    source: PipelineHop,
    chunk: string,
    size: number,
    readToken: string,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Uint8Array>> {
    const url = new URL(`chunks/${chunk}`, source.url.endsWith("/") ? source.url : `${source.url}/`);
    const mod = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {
        method: "GET",
        agent: url.protocol === "https:" ? this.httpsAgent : this.httpAgent,
        headers: { authorization: `Bearer ${readToken}` },
        signal,
      });
      req.setTimeout(this.idleTimeoutMs, () => req.destroy(new Error(`no progress for ${this.idleTimeoutMs} ms`)));
      req.once("error", (err) =>
        reject(new AppError("UNAVAILABLE", `source node ${source.nodeId} (${source.url}): ${describe(err)}`)),
      );
      req.once("response", (res) => {
        if (res.statusCode === 200) {
          const declared = Number(res.headers["content-length"]);
          if (Number.isFinite(declared) && declared !== size) {
            res.destroy();
            reject(
              new AppError(
                "BAD_REQUEST",
                `source node ${source.nodeId} has ${declared} bytes for chunk ${chunk}, expected ${size}`,
              ),
            );
            return;
          }
          resolve(res);
          return;
        }
        const parts: Buffer[] = [];
        let total = 0;
        res.on("data", (b: Buffer) => {
          total += b.length;
          if (total <= MAX_ERROR_BODY) parts.push(b);
        });
        res.once("end", () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(parts).toString("utf8"));
          } catch {
            // status says enough
          }
          const err = AppError.fromBody(body, res.statusCode);
          reject(new AppError(err.code, `source node ${source.nodeId} (${source.url}): ${err.message}`));
        });
        res.once("error", (err) =>
          reject(new AppError("UNAVAILABLE", `source node ${source.nodeId}: ${describe(err)}`)),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function describe(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const code = "code" in err && typeof err.code === "string" ? err.code : undefined;
    const message = "message" in err && typeof err.message === "string" ? err.message : undefined;
    return code ?? message ?? "unknown error";
  }
  return String(err);
}
