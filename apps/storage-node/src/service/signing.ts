import { KeyObject, sign } from "node:crypto";
import { SignJWT, type CryptoKey } from "jose";
import type { ReceiptClaims } from "@cumulus/protocol/node-api";

/**
 * Everything this node signs with its own Ed25519 key. The control plane holds the
 * public half from registration, so a receipt proves that this node, at this epoch,
 * made the chunk durable, and a heartbeat cannot be sent on the node's behalf.
 */

export async function signReceipt(
  key: CryptoKey,
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

const keyObjects = new WeakMap<CryptoKey, KeyObject>();
const EDDSA_HEADER = Buffer.from(JSON.stringify({ alg: "EdDSA" })).toString("base64url");

/**
 * The compact JWT jose's SignJWT makes with `{ alg: "EdDSA" }`, byte for byte (Ed25519 is
 * deterministic), but signed synchronously: WebCrypto's sign is a thread-pool job and
 * promises per call, and a node signs one receipt per stored chunk, where a synchronous
 * Ed25519 signature costs some tens of microseconds.
 */
export function signEdDsaJwt(key: CryptoKey, payload: object): string {
  let ko = keyObjects.get(key);
  if (ko === undefined) {
    ko = KeyObject.from(key);
    keyObjects.set(key, ko);
  }
  const input = `${EDDSA_HEADER}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${input}.${sign(null, Buffer.from(input), ko).toString("base64url")}`;
}

export const NODE_AUTH_TTL_S = 60;

/** Bearer token for node -> control plane calls (claims: ZNodeAuthClaims). */
export async function signNodeAuth(key: CryptoKey, nodeId: string, epoch: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ epoch })
    .setProtectedHeader({ alg: "EdDSA" })
    .setSubject(nodeId)
    .setAudience("cumulus-control")
    .setIssuedAt(now)
    .setExpirationTime(now + NODE_AUTH_TTL_S)
    .sign(key);
}
