import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import { AppError } from "@cumulus/protocol/errors";
import {
  ZReplicateRequest,
  type CapabilityClaims,
  type ReplicateRequest,
  type ReplicateResponse,
} from "@cumulus/protocol/node-api";
import type { ChunkStore } from "../store/chunk-store.ts";
import type { NodeIdentity } from "../store/identity.ts";
import type { Metrics } from "../service/metrics.ts";
import type { NodeState } from "../service/node-state.ts";
import { signReceipt } from "../service/signing.ts";
import type { ChunkTransport } from "./transport.ts";

const MAX_BODY_BYTES = 32 * 1024;

export interface ReplicatorDeps {
  store: ChunkStore;
  state: NodeState;
  identity: NodeIdentity;
  transport: ChunkTransport;
  metrics: Metrics;
  log: Logger;
  /** Whole-copy deadline; the reconciler retries elsewhere after it. */
  copyTimeoutMs?: number;
}

/**
 * The target side of a reconciler copy (POST /replicate): pull the chunk from one of the
 * sources the capability names, verify it while storing it, and sign a receipt. Copies
 * are idempotent: a chunk already held (and still good) is only re-verified locally.
 */
export class Replicator {
  private readonly d: ReplicatorDeps;
  copies = 0;
  bytesCopied = 0;

  constructor(deps: ReplicatorDeps) {
    this.d = deps;
  }

  async replicate(
    claims: CapabilityClaims,
    req: ReplicateRequest,
    nodeId: string,
    epoch: number,
  ): Promise<ReplicateResponse> {
    const { store, log } = this.d;
    const sources = (claims.sources ?? []).filter((s) => s.nodeId !== nodeId);
    const receipt = () => signReceipt(this.d.identity.privateKey, { nodeId, epoch, chunk: req.chunk, size: req.size });

    // Already here (an earlier copy whose receipt was lost, or an upload): verify, don't copy.
    const held = await store.open(req.chunk);
    if (held !== null) {
      if (held.size === req.size) {
        try {
          for await (const _ of held.readAll()) {
            // drained only to verify the hash
          }
          return { chunk: req.chunk, size: req.size, receipt: await receipt(), sourceNodeId: null, bytesCopied: 0 };
        } catch {
          // Corrupt: the store quarantined it; fetch a good copy below.
        }
      } else {
        await held.close();
      }
    }
    if (sources.length === 0) {
      throw new AppError("BAD_REQUEST", `the replicate capability names no source for chunk ${req.chunk}`);
    }

    const deadline = AbortSignal.timeout(this.d.copyTimeoutMs ?? 120_000);
    const failures: string[] = [];
    for (const source of sources) {
      try {
        const body = await this.d.transport.fetchChunk(source, req.chunk, req.size, req.readToken, deadline);
        const metrics = this.d.metrics;
        async function* counted(): AsyncGenerator<Uint8Array> {
          for await (const buf of body) {
            metrics.bytesIn += buf.byteLength;
            yield buf;
          }
        }
        await store.put(req.chunk, counted(), req.size);
        this.copies += 1;
        this.bytesCopied += req.size;
        log.debug({ chunk: req.chunk, size: req.size, source: source.nodeId }, "chunk replicated");
        return {
          chunk: req.chunk,
          size: req.size,
          receipt: await receipt(),
          sourceNodeId: source.nodeId,
          bytesCopied: req.size,
        };
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError("UNAVAILABLE", String(err));
        // Our own disk is the problem: no other source can help.
        if (e.code === "DISK_FULL") throw e;
        failures.push(`${source.nodeId}: ${e.code}: ${e.message}`);
        log.warn(
          { chunk: req.chunk, source: source.nodeId, code: e.code, error: e.message },
          "replication source failed",
        );
        if (deadline.aborted) break;
      }
    }
    throw new AppError(
      "UNAVAILABLE",
      `could not copy chunk ${req.chunk} from any source (${failures.join("; ") || "deadline reached"})`,
      { failures: failures.slice(0, 16) },
    );
  }
}

/** Reads and parses the small JSON body of POST /replicate. */
export async function readReplicateRequest(req: IncomingMessage): Promise<ReplicateRequest> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const buf of req as AsyncIterable<Buffer>) {
    total += buf.length;
    if (total > MAX_BODY_BYTES)
      throw new AppError("PAYLOAD_TOO_LARGE", `replicate request over ${MAX_BODY_BYTES} bytes`);
    parts.push(buf);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(parts).toString("utf8"));
  } catch {
    throw new AppError("BAD_REQUEST", "replicate request body is not valid JSON");
  }
  const parsed = ZReplicateRequest.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new AppError("BAD_REQUEST", `invalid replicate request: ${i?.path.join(".")}: ${i?.message}`);
  }
  return parsed.data;
}
