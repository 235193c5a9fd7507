// Batch receipts: a storage node that stores a batch of chunks (POST /chunks/batch) signs
// one receipt for all of them instead of one per chunk. It signs the root of a Merkle tree
// over the (chunk id, size) pairs it made durable; each chunk's receipt is that one JWS plus
// the chunk's path to the root. The receipt still proves what a single receipt proves —
// this node, at this epoch, stored this chunk with this size — and the control plane checks
// one signature per node per batch (it caches the verified JWS) plus a few hashes per chunk.
// Receipt text: `<compact JWS over ZBatchReceiptClaims>~<leaf index>~<sibling hashes, "." separated>`.
import { createHash } from "node:crypto";
import { z } from "zod";
import { ZChunkId } from "./ids.ts";

/** Most leaves one batch receipt covers (a batch holds at most MAX_PUT_BATCH_ITEMS chunks). */
export const MAX_RECEIPT_LEAVES = 1024;

export const ZBatchReceiptClaims = z.object({
  iss: z.uuid(), // node id
  epoch: z.number().int().positive(),
  /** Merkle root (base64url SHA-256) over the leaves, padded to a power of two. */
  root: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  /** Number of real leaves. */
  n: z.number().int().min(1).max(MAX_RECEIPT_LEAVES),
  iat: z.number().int(),
});
export type BatchReceiptClaims = z.infer<typeof ZBatchReceiptClaims>;

// Leaves, inner nodes and padding hash with different prefixes: no inner node can pass for a
// leaf (second preimage), and padding is no chunk.
const LEAF = Buffer.from("cumulus-receipt-leaf\0");
const INNER = Buffer.from([1]);
const PAD = createHash("sha256").update("cumulus-receipt-pad").digest();

export function receiptLeaf(chunk: string, size: number): Buffer {
  return createHash("sha256").update(LEAF).update(`${chunk}\0${size}`).digest();
}

function inner(a: Buffer, b: Buffer): Buffer {
  return createHash("sha256").update(INNER).update(a).update(b).digest();
}

/** The root over `leaves` and, for each leaf, its proof (the sibling hashes, leaf level first). */
export function receiptTree(leaves: readonly Buffer[]): { root: string; proofs: string[][] } {
  if (leaves.length === 0 || leaves.length > MAX_RECEIPT_LEAVES)
    throw new RangeError(`a batch receipt covers 1 to ${MAX_RECEIPT_LEAVES} chunks, not ${leaves.length}`);
  let width = 1;
  while (width < leaves.length) width *= 2;
  let level: Buffer[] = [...leaves];
  while (level.length < width) level.push(PAD);
  const proofs: string[][] = leaves.map(() => []);
  for (let span = 1; level.length > 1; span *= 2) {
    for (let i = 0; i < leaves.length; i++) {
      const pos = Math.floor(i / span);
      proofs[i]!.push(level[pos ^ 1]!.toString("base64url"));
    }
    const next: Buffer[] = [];
    for (let j = 0; j < level.length; j += 2) next.push(inner(level[j]!, level[j + 1]!));
    level = next;
  }
  return { root: level[0]!.toString("base64url"), proofs };
}

/** Splits a batch receipt; null when `receipt` is not one (a plain JWS, or malformed). */
export function splitBatchReceipt(receipt: string): { jws: string; index: number; proof: string[] } | null {
  const parts = receipt.split("~");
  if (parts.length !== 3) return null;
  const [jws, idx, proof] = parts as [string, string, string];
  if (!/^\d{1,4}$/.test(idx)) return null;
  const hashes = proof === "" ? [] : proof.split(".");
  if (hashes.some((h) => !/^[A-Za-z0-9_-]{43}$/.test(h))) return null;
  return { jws, index: Number(idx), proof: hashes };
}

export function joinBatchReceipt(jws: string, index: number, proof: readonly string[]): string {
  return `${jws}~${index}~${proof.join(".")}`;
}

/** Whether `proof` leads from the leaf of (chunk, size) at `index` of `n` leaves to `root`. */
export function proofReachesRoot(
  chunk: string,
  size: number,
  index: number,
  n: number,
  proof: readonly string[],
  root: string,
): boolean {
  if (!ZChunkId.safeParse(chunk).success || !Number.isInteger(index) || index < 0 || index >= n) return false;
  let depth = 0;
  while (2 ** depth < n) depth++;
  if (proof.length !== depth) return false;
  let h = receiptLeaf(chunk, size);
  let pos = index;
  for (const sib of proof) {
    const s = Buffer.from(sib, "base64url");
    if (s.length !== 32) return false;
    h = pos % 2 === 0 ? inner(h, s) : inner(s, h);
    pos = Math.floor(pos / 2);
  }
  return h.toString("base64url") === root;
}
