import http from "node:http";
import https from "node:https";
import { AppError } from "@cumulus/protocol/errors";
import { ZPutChunkResponse, type PipelineHop } from "@cumulus/protocol/node-api";
import { ZPipelineFailureDetails } from "@cumulus/protocol/node-api";
import { isAtOwnHost } from "./own-host.ts";

const MAX_RESPONSE_BYTES = 256 * 1024;

export type ForwardOutcome = { ok: true; receipts: string[] } | { ok: false; error: AppError };

/** One chunk on its way to the next hop of a write pipeline, whatever the transport. */
export interface Forward {
  readonly hop: PipelineHop;
  /** Never rejects; resolves once the bytes are handed to the transport (or the hop failed). */
  write(buf: Uint8Array): Promise<void>;
  end(): void;
  /** The local write failed: the downstream copy would be refused anyway, stop sending. */
  abort(): void;
  result(): Promise<ForwardOutcome>;
}

/**
 * Another transport for hops in other sites (UDT, `src/udt/`): the forwarder uses it when
 * the hop names a site other than this node's and has an address for it.
 */
export interface WanTransport {
  /** This node's site. */
  site: string;
  canReach(hop: PipelineHop): boolean;
  start(hop: PipelineHop, chunk: string, token: string, size: number, idleTimeoutMs: number): Forward;
  close(): void;
}

/**
 * Sends the chunk to the next hop of a write pipeline while it is still arriving here, so
 * a three-replica write costs about one transfer time, not three.
 */
export class PipelineForwarder {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly idleTimeoutMs: number;
  private wan: WanTransport | null = null;
  /** This node's host as others address it (lowercase): hops there are on this machine. */
  private ownHost: string | null = null;

  constructor(opts: { idleTimeoutMs?: number } = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  }

  /**
   * Copies to nodes of other sites go over `wan` (UDT) from now on, except to nodes at
   * `ownHost`, this node's own host name or address.
   */
  useWanTransport(wan: WanTransport, ownHost?: string): void {
    this.wan = wan;
    this.ownHost = ownHost ? ownHost.toLowerCase() : null;
  }

  /**
   * Whether a copy to `hop` crosses sites and goes over the WAN transport. Not when the
   * hop is at this node's own host, whatever its site (a cluster in a box puts two sites on
   * one machine): there is no WAN to cross, and TCP over loopback costs far less CPU than
   * UDT, which handles every 1.5 KB packet in user space (1 GiB synced at replication 2
   * across the box's two sites: ~2.7 CPU-s less for the storage nodes; docs/benchmarks.md).
   */
  isWanHop(hop: Pick<PipelineHop, "site" | "udt" | "nodeId" | "url">): boolean {
    const wan = this.wan;
    return (
      wan !== null &&
      hop.site !== undefined &&
      hop.site !== wan.site &&
      wan.canReach(hop as PipelineHop) &&
      !isAtOwnHost(hop.url, this.ownHost)
    );
  }

  start(hop: PipelineHop, chunk: string, token: string, size: number): Forward {
    if (this.wan && this.isWanHop(hop)) return this.wan.start(hop, chunk, token, size, this.idleTimeoutMs);
    return new HttpForward(hop, chunk, token, size, this, this.idleTimeoutMs);
  }

  agentFor(url: URL): http.Agent {
    return url.protocol === "https:" ? this.httpsAgent : this.httpAgent;
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.wan?.close();
  }
}

export class HttpForward implements Forward {
  readonly hop: PipelineHop;
  private readonly chunk: string;
  private readonly size: number;
  private readonly req: http.ClientRequest;
  private settled = false;
  private readonly outcome: Promise<ForwardOutcome>;

  constructor(hop: PipelineHop, chunk: string, token: string, size: number, fw: PipelineForwarder, idleMs: number) {
    this.hop = hop;
    this.chunk = chunk;
    this.size = size;
    const url = new URL(`chunks/${chunk}`, hop.url.endsWith("/") ? hop.url : `${hop.url}/`);
    const mod = url.protocol === "https:" ? https : http;
    this.req = mod.request(url, {
      method: "PUT",
      agent: fw.agentFor(url),
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/octet-stream",
        "content-length": String(size),
      },
    });
    this.outcome = new Promise<ForwardOutcome>((resolve) => {
      const settle = (o: ForwardOutcome) => {
        this.settled = true;
        resolve(o);
      };
      this.req.on("response", (res) => {
        const parts: Buffer[] = [];
        let total = 0;
        res.on("data", (b: Buffer) => {
          total += b.length;
          if (total <= MAX_RESPONSE_BYTES) parts.push(b);
        });
        res.on("end", () => settle(this.interpret(res.statusCode ?? 0, Buffer.concat(parts).toString("utf8"))));
        res.on("error", (err) => settle(this.failure(`its response was cut off (${describe(err)})`)));
      });
      this.req.on("error", (err) => settle(this.failure(`could not be reached (${describe(err)})`)));
      this.req.setTimeout(idleMs, () => this.req.destroy(new Error(`no progress for ${idleMs} ms`)));
    });
  }

  /** Never rejects; resolves once the bytes are handed to the socket (or the hop failed). */
  write(buf: Uint8Array): Promise<void> {
    if (this.settled || this.req.destroyed) return Promise.resolve();
    if (this.req.write(buf)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.req.off("drain", done);
        this.req.off("close", done);
        resolve();
      };
      this.req.once("drain", done);
      this.req.once("close", done);
    });
  }

  end(): void {
    if (!this.settled && !this.req.destroyed) this.req.end();
  }

  /** The local write failed: the downstream copy would be refused anyway, stop sending. */
  abort(): void {
    if (!this.req.destroyed) this.req.destroy();
  }

  result(): Promise<ForwardOutcome> {
    return this.outcome;
  }

  private interpret(status: number, text: string): ForwardOutcome {
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Reported below with the status.
    }
    if (status === 201) {
      const parsed = ZPutChunkResponse.safeParse(json);
      if (
        parsed.success &&
        parsed.data.chunk === this.chunk &&
        parsed.data.size === this.size &&
        parsed.data.receipts.length > 0
      ) {
        return { ok: true, receipts: parsed.data.receipts };
      }
      return this.failure("it answered 201 with an invalid body");
    }
    const err = AppError.fromBody(json, status);
    const nested = ZPipelineFailureDetails.safeParse(err.details);
    if (nested.success) {
      // A hop further down failed: keep its identity and message, we are just a relay.
      return { ok: false, error: new AppError("UNAVAILABLE", err.message, nested.data) };
    }
    return this.failure(`it answered ${status} ${err.code}: ${err.message}`, err.code);
  }

  private failure(reason: string, cause?: string): ForwardOutcome {
    const details = { failedNodeId: this.hop.nodeId, failedUrl: this.hop.url, ...(cause ? { cause } : {}) };
    return {
      ok: false,
      error: new AppError(
        "UNAVAILABLE",
        `replica pipeline failed at storage node ${this.hop.nodeId} (${this.hop.url}): ${reason}`,
        details,
      ),
    };
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
