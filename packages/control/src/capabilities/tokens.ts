import { SignJWT } from "jose";
import { CAPABILITY_ISSUER, type CapabilityOp, type PipelineHop } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import { getSigningKey } from "../keys/signing-keys.ts";

/**
 * Capability tokens travel in HTTP headers, where servers and proxies commonly cap a
 * header line at 8 KiB. A chunk id costs ~88 bytes once JSON- and base64url-encoded, so
 * at most ~80 chunks fit next to a three-hop pipeline: batches are cut by encoded size.
 *
 * They are also cut at 32 chunks, well below the 100 the protocol allows: the API
 * repeats a batch's token next to every chunk of it (and the client sends it with every
 * chunk), so bytes on the wire grow with batch size × chunk count, while signing one
 * token more per 32 chunks costs next to nothing.
 */
export const MAX_TOKEN_BYTES = 7_900;
export const MAX_CHUNKS_PER_TOKEN = 32;

export type CapabilityRequest = {
  op: CapabilityOp;
  aud: string[];
  chunks: string[];
  pipeline?: PipelineHop[];
  sub: string;
  /** Bind the token to the client's address (the `ip` claim): nodes refuse it from elsewhere. */
  ip?: string | null;
  /** replicate: where the audience may pull the chunk from (signed, like the pipeline). */
  sources?: PipelineHop[];
  /** delete: keep a chunk written after this instant (ms since the epoch). */
  ifUnmodifiedSince?: number;
};

export async function signCapability(
  ctx: ControlContext,
  req: CapabilityRequest,
  now = Date.now(),
): Promise<{ token: string; expiresAt: Date }> {
  const key = await getSigningKey(ctx);
  const iat = Math.floor(now / 1000);
  const exp = iat + ctx.config.capabilityTtlSeconds;
  const payload: Record<string, unknown> = { op: req.op, chunks: req.chunks };
  if (req.pipeline) payload["pipeline"] = req.pipeline;
  if (req.ip) payload["ip"] = req.ip;
  if (req.sources) payload["sources"] = req.sources;
  if (req.ifUnmodifiedSince !== undefined) payload["ifUnmodifiedSince"] = Math.floor(req.ifUnmodifiedSince);
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
    .setIssuer(CAPABILITY_ISSUER)
    .setAudience(req.aud)
    .setSubject(req.sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token, expiresAt: new Date(exp * 1000) };
}

const HEADER_BYTES = 120; // {"alg":"EdDSA","kid":<uuid>,"typ":"JWT"} encoded, plus the signature
const SIGNATURE_BYTES = 88;

function encodedLength(jsonBytes: number): number {
  return Math.ceil((jsonBytes * 4) / 3);
}

/**
 * Splits `chunks` (all for the same audience/pipeline) into batches whose token stays
 * under MAX_TOKEN_BYTES, estimating from the claims the token will carry.
 */
export function batchForToken(chunks: readonly string[], fixed: Omit<CapabilityRequest, "chunks">): string[][] {
  const base = JSON.stringify({
    ...fixed,
    chunks: [],
    iss: CAPABILITY_ISSUER,
    iat: 2_000_000_000,
    exp: 2_000_000_000,
  }).length;
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = base;
  for (const id of chunks) {
    const add = JSON.stringify(id).length + 1;
    const over = HEADER_BYTES + SIGNATURE_BYTES + 2 + encodedLength(bytes + add) > MAX_TOKEN_BYTES;
    if (current.length > 0 && (current.length >= MAX_CHUNKS_PER_TOKEN || over)) {
      batches.push(current);
      current = [];
      bytes = base;
    }
    current.push(id);
    bytes += add;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Cuts chunks (in order) into read batches whose token — chunk ids plus the union of the
 * nodes they may be read from — stays under MAX_TOKEN_BYTES.
 */
export function readBatches(
  chunks: readonly string[],
  nodesOf: (chunkId: string) => readonly string[],
): { chunks: string[]; aud: string[] }[] {
  const base = JSON.stringify({
    op: "read",
    chunks: [],
    aud: [],
    sub: "00000000-0000-0000-0000-000000000000",
    iss: CAPABILITY_ISSUER,
    iat: 2e9,
    exp: 2e9,
  }).length;
  const out: { chunks: string[]; aud: string[] }[] = [];
  let current: string[] = [];
  let aud = new Set<string>();
  let bytes = base;
  for (const id of chunks) {
    const newNodes = nodesOf(id).filter((n) => !aud.has(n));
    const add = JSON.stringify(id).length + 1 + newNodes.reduce((s, n) => s + JSON.stringify(n).length + 1, 0);
    const over = HEADER_BYTES + SIGNATURE_BYTES + 2 + encodedLength(bytes + add) > MAX_TOKEN_BYTES;
    if (current.length > 0 && (current.length >= MAX_CHUNKS_PER_TOKEN || over)) {
      out.push({ chunks: current, aud: [...aud].sort() });
      current = [];
      aud = new Set();
      bytes = base;
      const all = nodesOf(id);
      current.push(id);
      for (const n of all) aud.add(n);
      bytes += JSON.stringify(id).length + 1 + all.reduce((s, n) => s + JSON.stringify(n).length + 1, 0);
      continue;
    }
    current.push(id);
    for (const n of newNodes) aud.add(n);
    bytes += add;
  }
  if (current.length > 0) out.push({ chunks: current, aud: [...aud].sort() });
  return out;
}
