import { z } from "zod";
import { ZErrorCode } from "./errors.ts";
import { ZChunkId, ZNodeName, ZSiteName } from "./ids.ts";

/**
 * Control plane <-> storage node messages. Nodes register with a join token, receive an
 * id and a fresh epoch, then authenticate every later call with a short JWT signed by
 * their own Ed25519 key (`ZNodeAuthClaims`), so the control plane never hands a node a
 * shared secret and a node that re-registered cannot act with its old epoch.
 */

export const NODE_STATUSES = ["active", "draining", "down", "decommissioned"] as const;
export const ZNodeStatus = z.enum(NODE_STATUSES);
export type NodeStatus = z.infer<typeof ZNodeStatus>;

/** Ed25519 public key as a JWK (what `jose.exportJWK` produces). */
export const ZEd25519PublicJwk = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().min(40).max(50),
  kid: z.string().optional(),
});
export type Ed25519PublicJwk = z.infer<typeof ZEd25519PublicJwk>;

export const ZNodeLoad = z.object({
  /** 1-minute load average divided by the number of cores. */
  cpu: z.number().min(0),
  inflightRequests: z.number().int().min(0),
  bytesInPerSec: z.number().min(0),
  bytesOutPerSec: z.number().min(0),
});
export type NodeLoad = z.infer<typeof ZNodeLoad>;

export const ZNodeUsage = z.object({
  capacityBytes: z.number().int().min(0),
  usedBytes: z.number().int().min(0),
  chunkCount: z.number().int().min(0),
  /**
   * Bytes the node can still store now: capacity less what it holds and has reserved, or
   * the file system's free space when that is less (a disk shared with other data). A node
   * that leaves it out is taken to have capacity - used.
   */
  availableBytes: z.number().int().min(0).optional(),
});

export const ZRegisterNodeRequest = z.object({
  joinToken: z.string().min(16).max(512),
  name: ZNodeName,
  site: ZSiteName,
  /** Base URL of the node's HTTP data API, e.g. http://127.0.0.1:7101 */
  dataUrl: z.url(),
  /** host:port of the node's UDT listener, when it has one. */
  udtAddress: z.string().max(255).nullable().default(null),
  publicKey: ZEd25519PublicJwk,
  usage: ZNodeUsage,
  version: z.string().max(64),
});
export type RegisterNodeRequest = z.infer<typeof ZRegisterNodeRequest>;

export const ZRegisterNodeResponse = z.object({
  nodeId: z.uuid(),
  epoch: z.number().int().positive(),
  status: ZNodeStatus,
  /** The control plane's token-signing public key: nodes verify, never mint. */
  controlPublicKey: ZEd25519PublicJwk,
  heartbeatIntervalMs: z.number().int().positive(),
});
export type RegisterNodeResponse = z.infer<typeof ZRegisterNodeResponse>;

export const ZHeartbeatRequest = z.object({
  usage: ZNodeUsage,
  load: ZNodeLoad,
});
export type HeartbeatRequest = z.infer<typeof ZHeartbeatRequest>;

export const ZHeartbeatResponse = z.object({
  status: ZNodeStatus,
  heartbeatIntervalMs: z.number().int().positive(),
});
export type HeartbeatResponse = z.infer<typeof ZHeartbeatResponse>;

/** Claims of the JWT a node signs with its own key to authenticate to the control plane. */
export const ZNodeAuthClaims = z.object({
  sub: z.uuid(), // node id
  epoch: z.number().int().positive(),
  aud: z.literal("cumulus-control"),
});

// ---------------------------------------------------------------------------
// Capability tokens: minted by the control plane (EdDSA), verified by nodes.

export const CAPABILITY_ISSUER = "cumulus-control";

export const ZCapabilityOp = z.enum(["read", "write", "delete", "inventory", "replicate"]);
export type CapabilityOp = z.infer<typeof ZCapabilityOp>;

export const ZPipelineHop = z.object({
  nodeId: z.uuid(),
  url: z.url(),
  /** The hop's site: a node forwards to a hop in another site over UDT when it can. */
  site: z.string().max(63).optional(),
  /** host:port of the hop's UDT listener (`udtAddress` at registration), when it has one. */
  udt: z.string().max(255).optional(),
});
export type PipelineHop = z.infer<typeof ZPipelineHop>;

export const ZCapabilityClaims = z.object({
  iss: z.literal(CAPABILITY_ISSUER),
  /** Node ids this token may be presented to. */
  aud: z.array(z.uuid()).min(1),
  exp: z.number().int(),
  iat: z.number().int(),
  op: ZCapabilityOp,
  /** Chunk ids covered; empty only for ops that are not about chunks (inventory). */
  chunks: z.array(ZChunkId).max(10_000),
  /**
   * For writes: the replica pipeline, in order. The first hop receives the client's
   * PUT and forwards to the next. It is inside the signed token so a client cannot
   * make a node forward bytes to an address the control plane did not choose.
   */
  pipeline: z.array(ZPipelineHop).optional(),
  /**
   * For replicate: the nodes the audience may pull the chunk from, in order of preference.
   * Signed for the same reason as the pipeline: a node only dials addresses the control
   * plane chose.
   */
  sources: z.array(ZPipelineHop).max(16).optional(),
  /**
   * For delete: refuse (409 CONFLICT) when the chunk file was written after this instant
   * (ms since the epoch). A copy written after the control plane decided to delete (a
   * client re-uploading the chunk meanwhile) is never removed by that decision.
   */
  ifUnmodifiedSince: z.number().int().min(0).optional(),
  /** Subject the token was issued for (user id or "system"), for audit. */
  sub: z.string().max(128),
  /**
   * The client's address as the control plane saw it when it issued the token (the IP
   * access rules allowed it). Nodes refuse the token from any other address (see
   * `sameClientAddress`), so a token handed to a host the rules deny is useless. For a
   * write pipeline only the first hop checks it; the hops after it receive the chunk
   * from the node before them. Absent on tokens for the control plane's own reads.
   */
  ip: z.string().max(64).optional(),
});
export type CapabilityClaims = z.infer<typeof ZCapabilityClaims>;

/** An address in one comparable form: IPv4 dotted, IPv6 as eight full hex groups; null if unreadable. */
function canonicalAddress(input: string): string | null {
  let s = input
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  const v4 = (t: string) =>
    /^(\d{1,3})(\.\d{1,3}){3}$/.test(t) && t.split(".").every((o) => Number(o) <= 255)
      ? t.split(".").map(Number).join(".")
      : null;
  if (!s.includes(":")) return v4(s);
  const mapped =
    /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s) ?? /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (mapped) return v4(mapped[1]!);
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return null;
  const groups = [...head, ...Array<string>(fill).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => g.padStart(4, "0")).join(":");
}

function isLoopbackAddress(canonical: string): boolean {
  return canonical.startsWith("127.") || canonical === "0000:0000:0000:0000:0000:0000:0000:0001";
}

/**
 * Whether a request from `remote` (a socket's address) may use a token issued for `claim`:
 * the same address in any notation (IPv4-mapped IPv6 included), or both loopback (one
 * host may reach the control plane over 127.0.0.1 and a node over ::1).
 */
export function sameClientAddress(claim: string, remote: string): boolean {
  const a = canonicalAddress(claim);
  const b = canonicalAddress(remote);
  if (a === null || b === null) return false;
  if (isLoopbackAddress(a) && isLoopbackAddress(b)) return true;
  return a === b;
}

// ---------------------------------------------------------------------------
// Receipts: signed by each node that made a chunk durable.

export const ZReceiptClaims = z.object({
  iss: z.uuid(), // node id
  epoch: z.number().int().positive(),
  chunk: ZChunkId,
  size: z.number().int().positive(),
  iat: z.number().int(),
});
export type ReceiptClaims = z.infer<typeof ZReceiptClaims>;

/** A receipt travels as a compact JWS (EdDSA) over `ZReceiptClaims`. */
export const ZReceipt = z.string().min(20).max(2048);

export const ZPutChunkResponse = z.object({
  chunk: ZChunkId,
  size: z.number().int().positive(),
  /** One receipt per node in the pipeline that stored the chunk, in pipeline order. */
  receipts: z.array(ZReceipt),
});
export type PutChunkResponse = z.infer<typeof ZPutChunkResponse>;

export const ZInventoryPage = z.object({
  chunks: z.array(
    z.object({
      id: ZChunkId,
      size: z.number().int().positive(),
      /** When the chunk file was last written (ms since the epoch, the node's clock). */
      mtimeMs: z.number().min(0).optional(),
    }),
  ),
  /** Opaque cursor for the next page; null at the end. */
  next: z.string().nullable(),
});
export type InventoryPage = z.infer<typeof ZInventoryPage>;

export const ZNodeHealth = z.object({
  ok: z.boolean(),
  nodeId: z.uuid().nullable(),
  name: ZNodeName,
  site: ZSiteName,
  epoch: z.number().int().nullable(),
  usage: ZNodeUsage,
});

/** HTTP headers of the data API. */
export const HEADER_CHUNK_SIZE = "x-cumulus-chunk-size";

/**
 * `details` of the UNAVAILABLE error a pipeline head returns when a downstream hop
 * failed. Each hop copies `failedNodeId` from its own downstream's error, so the client
 * learns which node broke the pipeline however deep it was.
 */
export const ZPipelineFailureDetails = z.object({
  failedNodeId: z.uuid(),
  failedUrl: z.string(),
  /** The failed hop's own error code, when it answered with one. */
  cause: z.string().optional(),
});
export type PipelineFailureDetails = z.infer<typeof ZPipelineFailureDetails>;

// ---------------------------------------------------------------------------
// Node-to-node replication (the reconciler's copies).

/**
 * POST /replicate on the target node, with `Authorization: Bearer <replicate capability>`
 * (op "replicate", aud = [target], chunks = [chunk], sources = where to pull from). The
 * target pulls the chunk from the first source that answers, using `readToken` (a read
 * capability whose audience is the sources), verifies the hash, stores it durably and
 * answers with its receipt. A target that already holds a good copy verifies it locally
 * and answers without copying.
 */
export const ZReplicateRequest = z.object({
  chunk: ZChunkId,
  size: z.number().int().positive(),
  readToken: z.string().min(20).max(16_384),
});
export type ReplicateRequest = z.infer<typeof ZReplicateRequest>;

export const ZReplicateResponse = z.object({
  chunk: ZChunkId,
  size: z.number().int().positive(),
  /** The target's receipt (same claims as a PUT's) for the copy it now holds. */
  receipt: ZReceipt,
  /** The source the bytes came from; null when the target already held a good copy. */
  sourceNodeId: z.uuid().nullable(),
  /** Bytes moved over the network (0 when nothing had to be copied). */
  bytesCopied: z.number().int().min(0),
});
export type ReplicateResponse = z.infer<typeof ZReplicateResponse>;

/** Chunks one batched copy may carry: what one replicate and one read capability can name. */
export const MAX_REPLICATE_BATCH = 32;

/**
 * POST /replicate/batch on the target node: many chunks in one task (FDS-style recovery
 * moves data in bulk, not a round trip per chunk). The replicate capability names every
 * chunk and the signed `sources`; each item lists, by index into those sources, where
 * that chunk lives, best first, so the target only dials what the control plane signed.
 * The target pulls several chunks at once, verifies each hash, makes the whole batch
 * durable with grouped fsyncs, and answers per chunk: a receipt only for a chunk that is
 * durable, an error for the others (the rest of the batch still counts).
 */
export const ZReplicateBatchRequest = z.object({
  items: z
    .array(
      z.object({
        chunk: ZChunkId,
        size: z.number().int().positive(),
        sources: z.array(z.number().int().min(0).max(15)).min(1).max(16),
      }),
    )
    .min(1)
    .max(MAX_REPLICATE_BATCH),
  readToken: z.string().min(20).max(16_384),
});
export type ReplicateBatchRequest = z.infer<typeof ZReplicateBatchRequest>;

export const ZReplicateBatchResult = z.discriminatedUnion("ok", [
  ZReplicateResponse.extend({ ok: z.literal(true) }),
  z.object({
    ok: z.literal(false),
    chunk: ZChunkId,
    code: ZErrorCode,
    message: z.string().max(4_096),
  }),
]);
export type ReplicateBatchResult = z.infer<typeof ZReplicateBatchResult>;

export const ZReplicateBatchResponse = z.object({
  /** One result per requested item, in request order. */
  results: z.array(ZReplicateBatchResult).max(MAX_REPLICATE_BATCH),
});
export type ReplicateBatchResponse = z.infer<typeof ZReplicateBatchResponse>;

/**
 * POST /api/nodes/chunks/report (node JWT, like heartbeats): chunks the node found
 * corrupt (hash mismatch, quarantined) or missing (gone or unreadable) by its scrubber or
 * while serving a read. The control plane stops counting those replicas and has the
 * reconciler replace them from a good copy.
 */
export const ZChunkReportRequest = z.object({
  corrupt: z.array(ZChunkId).max(10_000).default([]),
  missing: z.array(ZChunkId).max(10_000).default([]),
  /** What found them. */
  source: z.enum(["scrub", "read"]),
});
export type ChunkReportRequest = z.infer<typeof ZChunkReportRequest>;

export const ZChunkReportResponse = z.object({
  /** Replica rows marked corrupt (chunks the control plane did not list here are ignored). */
  marked: z.number().int().min(0),
});
export type ChunkReportResponse = z.infer<typeof ZChunkReportResponse>;
