import { KeyObject, sign } from "node:crypto";
import { SignJWT, type CryptoKey } from "jose";
import type { ReceiptClaims } from "@cumulus/protocol/node-api";
import { joinBatchReceipt, receiptLeaf, receiptTree, type BatchReceiptClaims } from "@cumulus/protocol/receipt-tree";

/** A node's own key: a KeyObject (NodeIdentity), or a WebCrypto key in tests. */
export type SigningKey = KeyObject | CryptoKey;

/**
 * Everything this node signs with its own Ed25519 key. The control plane holds the
 * public half from registration, so a receipt proves that this node, at this epoch,
 * made the chunk durable, and a heartbeat cannot be sent on the node's behalf.
 */

export async function signReceipt(
  key: SigningKey,
  r: { nodeId: string; epoch: number; chunk: string; size: number },
): Promise<string> {
  const claims: ReceiptClaims = {
    iss: r.nodeId,
    epoch: r.epoch,
    chunk: r.chunk,
    size: r.size,
    iat: Math.floor(Date.now() / 1000),
  };
  return signEdDsaJwt(key, claims);
}

/**
 * Receipts for several chunks stored together, in `chunks` order: one signature over the
 * Merkle root of their (id, size) pairs, each receipt carrying its chunk's path to the root
 * (@cumulus/protocol/receipt-tree). A single chunk gets a plain receipt.
 */
export function signBatchReceipts(
  key: SigningKey,
  r: { nodeId: string; epoch: number; chunks: readonly { chunk: string; size: number }[] },
): string[] {
  if (r.chunks.length === 0) return [];
  const iat = Math.floor(Date.now() / 1000);
  if (r.chunks.length === 1) {
    const c = r.chunks[0]!;
    const claims: ReceiptClaims = { iss: r.nodeId, epoch: r.epoch, chunk: c.chunk, size: c.size, iat };
    return [signEdDsaJwt(key, claims)];
  }
  const { root, proofs } = receiptTree(r.chunks.map((c) => receiptLeaf(c.chunk, c.size)));
  const claims: BatchReceiptClaims = { iss: r.nodeId, epoch: r.epoch, root, n: r.chunks.length, iat };
  const jws = signEdDsaJwt(key, claims);
  return proofs.map((proof, i) => joinBatchReceipt(jws, i, proof));
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
const EDDSA_HEADER = Buffer.from(JSON.stringify({ alg: "EdDSA" })).toString("base64url");

/**
 * The compact JWT jose's SignJWT makes with `{ alg: "EdDSA" }`, byte for byte (Ed25519 is
 * deterministic), but signed synchronously: WebCrypto's sign is a thread-pool job and
 * promises per call, and a node signs one receipt per stored chunk, where a synchronous
 * Ed25519 signature costs some tens of microseconds.
 */
export function signEdDsaJwt(key: SigningKey, payload: object): string {
  let ko = key instanceof KeyObject ? key : keyObjects.get(key);
  if (ko === undefined) {
    // Only extractable WebCrypto keys convert (Node 24 deprecates the others): the node's
    // own key is a KeyObject from the start (NodeIdentity).
    ko = KeyObject.from(key as CryptoKey);
    keyObjects.set(key as CryptoKey, ko);
  }
  const input = `${EDDSA_HEADER}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${input}.${sign(null, Buffer.from(input), ko).toString("base64url")}`;
}

export const NODE_AUTH_TTL_S = 60;

/** Bearer token for node -> control plane calls (claims: ZNodeAuthClaims). */
export async function signNodeAuth(key: SigningKey, nodeId: string, epoch: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ epoch })
    .setProtectedHeader({ alg: "EdDSA" })
    .setSubject(nodeId)
    .setAudience("cumulus-control")
    .setIssuedAt(now)
    .setExpirationTime(now + NODE_AUTH_TTL_S)
    .sign(key);
}
