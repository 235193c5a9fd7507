import { createPublicKey, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import { AppError } from "@cumulus/protocol/errors";
import { ZReceiptClaims } from "@cumulus/protocol/node-api";
import {
  ZBatchReceiptClaims,
  proofReachesRoot,
  splitBatchReceipt,
  type BatchReceiptClaims,
} from "@cumulus/protocol/receipt-tree";
import type { z } from "zod";
import type { Db } from "../access/access.ts";

export type VerifiedReceipt = { chunkId: string; nodeId: string; node: string; epoch: number; counts: boolean };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks every receipt against the registered key and current epoch of the node that
 * claims to have signed it, and against the manifest. A receipt is either one node's
 * signature over (chunk, size), or a batch receipt: its signature over the Merkle root of a
 * batch of such pairs plus this chunk's path to that root (@cumulus/protocol/receipt-tree);
 * each batch signature is checked once per request (`cache`), each path on its own. Any receipt that does not check
 * out refuses the whole commit: it is either forged or from a node that re-registered
 * (and may have lost the chunk), and the client must upload that chunk again.
 * `counts` is false for receipts of nodes that are down or decommissioned by now.
 */
export async function verifyReceipts(
  db: Db,
  receipts: Record<string, string[]>,
  sizes: ReadonlyMap<string, number>,
  cache: ReceiptCache = newReceiptCache(),
): Promise<VerifiedReceipt[]> {
  const decoded: {
    chunkId: string;
    receipt: string;
    batch: ReturnType<typeof splitBatchReceipt>;
    iss: string;
  }[] = [];
  for (const [chunkId, list] of Object.entries(receipts)) {
    if (!sizes.has(chunkId))
      throw new AppError("BAD_REQUEST", `receipts were given for chunk ${chunkId}, which is not part of this upload`);
    for (const receipt of list) {
      const batch = splitBatchReceipt(receipt);
      const iss = issuerOf(batch ? batch.jws : receipt, cache);
      if (iss === null) throw new AppError("BAD_REQUEST", `a receipt for chunk ${chunkId} is not a JWS naming a node`);
      decoded.push({ chunkId, receipt, batch, iss });
    }
  }
  await loadReceiptNodes(
    db,
    decoded.map((d) => d.iss),
    cache,
  );
  const { nodes, keys } = cache;
  const out: VerifiedReceipt[] = [];
  for (const [i, d] of decoded.entries()) {
    // Verification is synchronous CPU work: let other requests run between slices.
    if (i > 0 && i % 500 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const node = nodes.get(d.iss);
    if (!node)
      throw new AppError(
        "BAD_REQUEST",
        `a receipt for chunk ${d.chunkId} names node ${d.iss}, which is not registered`,
      );
    let key = keys.get(node.id);
    if (!key) {
      key = createPublicKey({ key: node.publicKey as JsonWebKey, format: "jwk" });
      keys.set(node.id, key);
    }
    const size = sizes.get(d.chunkId);
    let claims: { iss: string; epoch: number } | null;
    if (d.batch) {
      const jws = d.batch.jws;
      let bc = cache.batches.get(jws);
      if (bc === undefined) {
        bc = verifyCompactEdDSA(jws, key, ZBatchReceiptClaims);
        cache.batches.set(jws, bc);
      }
      claims = bc;
      if (bc && !proofReachesRoot(d.chunkId, size!, d.batch.index, bc.n, d.batch.proof, bc.root))
        throw new AppError(
          "BAD_REQUEST",
          `the batch receipt from node ${node.name} filed under chunk ${d.chunkId} does not cover chunk ${d.chunkId} with the manifest's size ${size}`,
        );
    } else {
      const c = verifyCompactEdDSA(d.receipt, key, ZReceiptClaims);
      if (c && c.chunk !== d.chunkId)
        throw new AppError("BAD_REQUEST", `a receipt filed under chunk ${d.chunkId} is for chunk ${c.chunk}`);
      if (c && c.size !== size)
        throw new AppError(
          "BAD_REQUEST",
          `node ${node.name} stored ${c.size} bytes for chunk ${d.chunkId} but the manifest says ${size}`,
        );
      claims = c;
    }
    if (!claims) {
      throw new AppError(
        "BAD_REQUEST",
        `the receipt for chunk ${d.chunkId} from node ${node.name} is not signed by the node's registered key`,
      );
    }
    if (claims.iss.toLowerCase() !== node.id)
      throw new AppError(
        "BAD_REQUEST",
        `the receipt for chunk ${d.chunkId} names node ${claims.iss} but is signed by ${node.name}`,
      );
    if (claims.epoch !== node.epoch) {
      throw new AppError(
        "STALE_EPOCH",
        `the receipt from node ${node.name} for chunk ${d.chunkId} is from epoch ${claims.epoch}, but the node has registered again since (epoch ${node.epoch}): upload the chunk again`,
      );
    }
    out.push({
      chunkId: d.chunkId,
      nodeId: node.id,
      node: node.name,
      epoch: claims.epoch,
      counts: node.status === "active" || node.status === "draining",
    });
  }
  return out;
}

type NodeRow = Awaited<ReturnType<Db["storageNode"]["findMany"]>>[number];

/**
 * Nodes and public keys already looked up: a batch of commits verifies every item's
 * receipts against one lookup of the nodes instead of one per item.
 */
export type ReceiptCache = {
  nodes: Map<string, NodeRow>;
  keys: Map<string, KeyObject>;
  looked: Set<string>;
  /** Batch receipt signatures checked already (JWS → claims, null: refused). */
  batches: Map<string, BatchReceiptClaims | null>;
  /** Unverified issuers by JWS (a batch receipt's JWS comes once per chunk of its batch). */
  issuers: Map<string, string | null>;
};

export function newReceiptCache(): ReceiptCache {
  return { nodes: new Map(), keys: new Map(), looked: new Set(), batches: new Map(), issuers: new Map() };
}

/** The node id a JWS names (lower case), unverified: only to look the node up; null if none. */
function issuerOf(jws: string, cache: ReceiptCache): string | null {
  let iss = cache.issuers.get(jws);
  if (iss === undefined) {
    const v = unverifiedPayload(jws)?.["iss"];
    iss = typeof v === "string" && UUID.test(v) ? v.toLowerCase() : null;
    cache.issuers.set(jws, iss);
  }
  return iss;
}

/** The issuers a set of receipts names (unverified: only to look their nodes up). */
export function receiptIssuers(receipts: Record<string, string[]>, cache: ReceiptCache): string[] {
  const out = new Set<string>();
  for (const list of Object.values(receipts)) {
    if (!Array.isArray(list)) continue;
    for (const r of list) {
      const iss = typeof r === "string" ? issuerOf(splitBatchReceipt(r)?.jws ?? r, cache) : null;
      if (iss !== null) out.add(iss);
    }
  }
  return [...out];
}

/** Looks up the nodes among `ids` not looked up yet, in one query. */
export async function loadReceiptNodes(db: Db, ids: readonly string[], cache: ReceiptCache): Promise<void> {
  const todo = [...new Set(ids)].filter((id) => !cache.looked.has(id));
  if (todo.length === 0) return;
  for (const n of await db.storageNode.findMany({ where: { id: { in: todo } } })) cache.nodes.set(n.id, n);
  for (const id of todo) cache.looked.add(id);
}

function unverifiedPayload(jws: string): Record<string, unknown> | null {
  const parts = jws.split(".");
  if (parts.length !== 3) return null;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    return typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Verifies a compact JWS with alg EdDSA directly with node:crypto: a commit of a large
 * file carries tens of thousands of receipts, and this is several times faster than a
 * general JWT library. Headers other than alg/typ/kid are refused (no `crit`, no `b64`).
 */
function verifyCompactEdDSA<T>(jws: string, key: KeyObject, schema: z.ZodType<T>): T | null {
  const parts = jws.split(".");
  if (parts.length !== 3) return null;
  const [h, p, sig] = parts as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as Record<string, unknown>;
    if (header["alg"] !== "EdDSA" || Object.keys(header).some((k) => k !== "alg" && k !== "typ" && k !== "kid"))
      return null;
    if (!verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(sig, "base64url"))) return null;
    const parsed = schema.safeParse(JSON.parse(Buffer.from(p, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
