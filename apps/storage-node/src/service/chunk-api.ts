// The chunk data API's semantics, shared by both transports (HTTP routes, UDT server): who
// may do what, how a PUT is stored and forwarded down the pipeline, and its receipts.
import { AppError } from "@cumulus/protocol/errors";
import type { CapabilityClaims, PipelineHop } from "@cumulus/protocol/node-api";
import { checkDeclaredSize, type ChunkStore } from "../store/chunk-store.ts";
import type { NodeIdentity } from "../store/identity.ts";
import type { Metrics } from "./metrics.ts";
import type { NodeState } from "./node-state.ts";
import type { PipelineForwarder } from "./pipeline.ts";
import { signReceipt } from "./signing.ts";
import type { CapabilityVerifier, Requirement } from "./tokens.ts";

export interface ChunkApiDeps {
  store: ChunkStore;
  state: NodeState;
  identity: NodeIdentity;
  verifier: CapabilityVerifier;
  forwarder: PipelineForwarder;
  metrics: Metrics;
}

export interface Authorized {
  claims: CapabilityClaims;
  nodeId: string;
  epoch: number;
}

/** This node's registration; UNAVAILABLE until it has one. */
export function activeRegistration(state: NodeState): { nodeId: string; epoch: number } {
  const active = state.active();
  if (active === null) {
    throw new AppError(
      "UNAVAILABLE",
      `storage node ${state.name} is not registered with the control plane yet; retry shortly`,
    );
  }
  return active;
}

/** Checks `token` for `need` against this node's registration (UNAVAILABLE until it has one). */
export async function authorizeToken(
  d: Pick<ChunkApiDeps, "state" | "verifier">,
  token: string | null,
  need: Omit<Requirement, "nodeId">,
): Promise<Authorized> {
  const active = activeRegistration(d.state);
  const claims = await d.verifier.verify(token, { ...need, nodeId: active.nodeId });
  return { claims, nodeId: active.nodeId, epoch: active.epoch };
}

export function chunkNotStored(id: string, nodeName: string): AppError {
  return new AppError("NOT_FOUND", `chunk ${id} is not stored on storage node ${nodeName}`);
}

export interface ChunkPut extends Authorized {
  id: string;
  /** The declared size (Content-Length or the UDT header), checked before a byte is read. */
  size: number;
  token: string;
  body: AsyncIterable<Uint8Array>;
  transport: "http" | "udt";
  /** Runs when the store starts reading the body (HTTP: answers `Expect: 100-continue`). */
  onFirstRead?: () => void;
}

/**
 * Stores a PUT's body while forwarding it to the next hop of the token's pipeline; returns
 * this node's signed receipt followed by those of the hops after it. Throws an AppError,
 * after aborting the forward, when the local write or any later hop fails.
 */
export async function putChunk(d: ChunkApiDeps, p: ChunkPut): Promise<{ receipts: string[]; created: boolean }> {
  const { id, size, token, nodeId, epoch, body, transport, onFirstRead } = p;
  // Before reading a byte: an oversized or empty body is refused from its headers.
  checkDeclaredSize(id, size);
  const next = nextHop(p.claims.pipeline, nodeId);
  const fwd = next ? d.forwarder.start(next, id, token, size) : null;
  const metrics = d.metrics;
  const udt = transport === "udt";
  let received = 0;
  async function* relay(): AsyncGenerator<Uint8Array> {
    // Deferred to the store's first read, so a write it refuses up front (no space)
    // is answered before an `Expect: 100-continue` client sends its body.
    onFirstRead?.();
    let inFlight: Promise<void> | undefined;
    try {
      for await (const buf of body) {
        received += buf.length;
        metrics.bytesIn += buf.length;
        if (udt) metrics.udtBytesIn += buf.length;
        // Hand the bytes to the next hop first, then let the local write run while
        // the socket sends them; wait for the downstream only before the next piece.
        await inFlight;
        inFlight = fwd?.write(buf);
        yield buf;
      }
      await inFlight;
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError(
        "TRUNCATED",
        `chunk ${id}: the ${udt ? "UDT " : ""}request body was cut off after ${received} of ${size} bytes`,
      );
    }
    fwd?.end();
  }
  let created: boolean;
  try {
    ({ created } = await d.store.put(id, relay(), size));
  } catch (err) {
    fwd?.abort();
    throw err;
  }
  const receipts = [await signReceipt(d.identity.privateKey, { nodeId, epoch, chunk: id, size })];
  if (fwd) {
    const outcome = await fwd.result();
    if (!outcome.ok) {
      fwd.abort();
      throw outcome.error;
    }
    receipts.push(...outcome.receipts);
  }
  return { receipts, created };
}

/** The hop after this node, or null when it is the last (or there is no pipeline). */
export function nextHop(pipeline: PipelineHop[] | undefined, nodeId: string): PipelineHop | null {
  if (pipeline === undefined || pipeline.length === 0) return null;
  const ids = new Set(pipeline.map((h) => h.nodeId));
  if (ids.size !== pipeline.length) {
    // A node listed twice would forward to itself in a loop.
    throw new AppError("FORBIDDEN", "capability token pipeline lists a storage node more than once");
  }
  const at = pipeline.findIndex((h) => h.nodeId === nodeId);
  if (at === -1) throw new AppError("FORBIDDEN", `this storage node (${nodeId}) is not in the token's write pipeline`);
  return pipeline[at + 1] ?? null;
}
