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
  return new SignJWT(claims).setProtectedHeader({ alg: "EdDSA" }).sign(key);
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
