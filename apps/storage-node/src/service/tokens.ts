import { errors, importJWK, jwtVerify, type CryptoKey } from "jose";
import { AppError } from "@cumulus/protocol/errors";
import {
  CAPABILITY_ISSUER,
  ZCapabilityClaims,
  type CapabilityClaims,
  type CapabilityOp,
  type Ed25519PublicJwk,
  sameClientAddress,
} from "@cumulus/protocol/node-api";

export const CLOCK_TOLERANCE_S = 30;
const CACHE_MAX = 1024;

export interface Requirement {
  op: CapabilityOp;
  /** This node's id: must be in the token's audience. */
  nodeId: string;
  /** The chunk the request is about; omitted for inventory. */
  chunk?: string;
  /** The request's remote (socket) address: must match the token's `ip` claim when it has one. */
  remoteAddress?: string | undefined;
}

interface Verified {
  claims: CapabilityClaims;
  chunks: Set<string>;
}

/**
 * Verifies capability tokens against the control plane's public key. One token covers a
 * batch of chunks (up to ~100), each fetched or stored by its own request, so verified
 * tokens are cached by their exact text: a hit skips the signature check and the
 * JSON/zod parse, never the expiry check.
 */
export class CapabilityVerifier {
  private key: CryptoKey | null = null;
  private keyX: string | null = null;
  private readonly cache = new Map<string, Verified>();
  /**
   * Checks in progress, by token: the requests of one batch arrive together (a hundred
   * downloads with one token), and each would otherwise check the same signature before the
   * first check lands in the cache.
   */
  private readonly pending = new Map<string, Promise<Verified>>();

  async setKey(jwk: Ed25519PublicJwk): Promise<void> {
    if (jwk.x === this.keyX) return;
    this.key = (await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "EdDSA")) as CryptoKey;
    this.keyX = jwk.x;
    this.cache.clear();
    this.pending.clear();
  }

  async verify(token: string | null, need: Requirement): Promise<CapabilityClaims> {
    if (token === null || token === "") {
      throw new AppError(
        "UNAUTHENTICATED",
        "missing capability token: send `Authorization: Bearer <token>` (or ?token= on GET/HEAD)",
      );
    }
    if (this.key === null) throw new AppError("UNAVAILABLE", "storage node has no control plane key yet");
    let v = this.cache.get(token);
    if (v === undefined) {
      let p = this.pending.get(token);
      if (p === undefined) {
        const key = this.key;
        p = this.verifySignature(token, key).then((verified) => {
          // A key change meanwhile cleared the cache: a check against the old key stays out of it.
          if (this.key === key) {
            this.cache.set(token, verified);
            if (this.cache.size > CACHE_MAX) {
              const oldest = this.cache.keys().next().value;
              if (oldest !== undefined) this.cache.delete(oldest);
            }
          }
          return verified;
        });
        this.pending.set(token, p);
        const check = p;
        // A key change meanwhile may have put a newer check of this token in its place.
        const done = () => {
          if (this.pending.get(token) === check) this.pending.delete(token);
        };
        p.then(done, done);
      }
      v = await p;
    } else if (v.claims.exp + CLOCK_TOLERANCE_S < Math.floor(Date.now() / 1000)) {
      this.cache.delete(token);
      throw expired(v.claims.exp);
    }
    const c = v.claims;
    if (!c.aud.includes(need.nodeId)) {
      throw new AppError(
        "FORBIDDEN",
        `capability token is for storage node(s) ${c.aud.join(", ")}, not for this node (${need.nodeId})`,
      );
    }
    if (c.op !== need.op) {
      throw new AppError("FORBIDDEN", `capability token grants "${c.op}", this request needs "${need.op}"`);
    }
    if (need.chunk !== undefined && !v.chunks.has(need.chunk)) {
      throw new AppError("FORBIDDEN", `capability token does not cover chunk ${need.chunk}`);
    }
    if (c.ip !== undefined) {
      // Later hops of a write pipeline receive the chunk from the hop before them.
      const firstHop = c.op !== "write" || !c.pipeline?.length || c.pipeline[0]!.nodeId === need.nodeId;
      if (firstHop && (need.remoteAddress === undefined || !sameClientAddress(c.ip, need.remoteAddress))) {
        throw new AppError(
          "FORBIDDEN",
          `capability token was issued to ${c.ip}, not to this client (${need.remoteAddress ?? "unknown address"}): ask the control plane for a new one from this address`,
        );
      }
    }
    return c;
  }

  private async verifySignature(token: string, key: CryptoKey): Promise<Verified> {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, key, {
        issuer: CAPABILITY_ISSUER,
        algorithms: ["EdDSA", "Ed25519"],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp", "iat"],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    const parsed = ZCapabilityClaims.safeParse(payload);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
      throw new AppError("UNAUTHENTICATED", `capability token claims are malformed: ${problems}`);
    }
    return { claims: parsed.data, chunks: new Set(parsed.data.chunks) };
  }
}

function expired(exp: number): AppError {
  return new AppError("TOKEN_EXPIRED", `capability token expired at ${new Date(exp * 1000).toISOString()}`);
}

function mapJoseError(err: unknown): AppError {
  if (err instanceof errors.JWTExpired) {
    const exp = typeof err.payload.exp === "number" ? err.payload.exp : 0;
    return expired(exp);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new AppError(
      "UNAUTHENTICATED",
      "capability token signature is invalid: it was not signed by the control plane",
    );
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return new AppError("UNAUTHENTICATED", "capability token must be signed with EdDSA");
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new AppError("UNAUTHENTICATED", `capability token rejected: ${err.message} (claim "${err.claim}")`);
  }
  if (err instanceof errors.JOSEError) {
    return new AppError("UNAUTHENTICATED", `capability token is malformed: ${err.message}`);
  }
  return new AppError("UNAUTHENTICATED", "capability token could not be verified");
}
