import { z } from "zod";
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

export const ZPipelineHop = z.object({ nodeId: z.uuid(), url: z.url() });
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
  /** Subject the token was issued for (user id or "system"), for audit. */
  sub: z.string().max(128),
});
export type CapabilityClaims = z.infer<typeof ZCapabilityClaims>;

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
  chunks: z.array(z.object({ id: ZChunkId, size: z.number().int().positive() })),
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
