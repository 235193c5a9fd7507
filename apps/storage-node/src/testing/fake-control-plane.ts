import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey } from "jose";
import {
  CAPABILITY_ISSUER,
  ZHeartbeatRequest,
  ZNodeAuthClaims,
  ZRegisterNodeRequest,
  type CapabilityOp,
  type Ed25519PublicJwk,
  type HeartbeatRequest,
  type PipelineHop,
  type RegisterNodeRequest,
} from "@cumulus/protocol/node-api";

/**
 * Stand-in for the control plane's node endpoints, for tests only. It checks what the
 * node sends against the shared zod schemas and verifies heartbeat JWTs with the key the
 * node registered, so a node that drifts from the wire contract fails here.
 */

export interface FakeNode {
  nodeId: string;
  epoch: number;
  name: string;
  dataUrl: string;
  publicJwk: Ed25519PublicJwk;
  publicKey: CryptoKey;
  registrations: number;
}

export interface MintOptions {
  aud: string[];
  op: CapabilityOp;
  chunks: string[];
  pipeline?: PipelineHop[];
  /** Seconds from now; negative for an already expired token. */
  expiresIn?: number;
  /** Sign with another key (a forgery). */
  signWith?: CryptoKey;
  iss?: string;
  /** The `ip` claim: the client address the token is bound to. */
  ip?: string;
  /** The subject: "system" for the reconciler's own tokens (default: a user's). */
  sub?: string;
  /** Any other claims (e.g. `sources` for replicate, `ifUnmodifiedSince` for delete). */
  extra?: Record<string, unknown>;
}

export class FakeControlPlane {
  readonly server: http.Server;
  url = "";
  privateKey!: CryptoKey;
  publicJwk!: Ed25519PublicJwk;
  readonly nodes = new Map<string, FakeNode>();
  readonly registerRequests: RegisterNodeRequest[] = [];
  readonly heartbeats: { name: string; body: HeartbeatRequest }[] = [];
  /** Bad-chunk reports (POST /api/nodes/chunks/report), by node name. */
  readonly chunkReports: { name: string; body: unknown }[] = [];
  heartbeatIntervalMs = 200;
  /** Answer this many registrations with 503 before accepting. */
  failRegistrations = 0;
  joinToken = "test-join-token-0123456789";
  private readonly errors: string[] = [];

  private constructor() {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** `host`: the address to listen on (e2e/wan binds a WAN emulator namespace's address). */
  static async start(port = 0, host = "127.0.0.1"): Promise<FakeControlPlane> {
    const cp = new FakeControlPlane();
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    cp.privateKey = privateKey;
    const jwk = await exportJWK(publicKey);
    cp.publicJwk = { kty: "OKP", crv: "Ed25519", x: String(jwk.x) };
    await new Promise<void>((r) => cp.server.listen(port, host, () => r()));
    cp.url = `http://${host}:${(cp.server.address() as AddressInfo).port}`;
    return cp;
  }

  /** Problems the fake saw in the node's requests; tests assert this stays empty. */
  protocolErrors(): string[] {
    return [...this.errors];
  }

  node(name: string): FakeNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`node ${name} never registered`);
    return n;
  }

  /** As if the node was registered again elsewhere: its current epoch becomes stale. */
  bumpEpoch(name: string): void {
    this.node(name).epoch += 1;
  }

  async mint(o: MintOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      op: o.op,
      chunks: o.chunks,
      ...(o.pipeline ? { pipeline: o.pipeline } : {}),
      ...(o.ip !== undefined ? { ip: o.ip } : {}),
      ...o.extra,
    })
      .setProtectedHeader({ alg: "EdDSA" })
      .setIssuer(o.iss ?? CAPABILITY_ISSUER)
      .setAudience(o.aud)
      .setSubject(o.sub ?? "test-user")
      .setIssuedAt(now - 120)
      .setExpirationTime(now + (o.expiresIn ?? 300))
      .sign(o.signWith ?? this.privateKey);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      body = null;
    }
    const send = (status: number, json: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    };
    const fail = (status: number, code: string, message: string) => send(status, { error: { code, message } });

    if (req.method === "POST" && req.url === "/api/nodes/register") {
      if (this.failRegistrations > 0) {
        this.failRegistrations -= 1;
        return fail(503, "UNAVAILABLE", "control plane is starting");
      }
      const parsed = ZRegisterNodeRequest.safeParse(body);
      if (!parsed.success) {
        this.errors.push(`register: ${parsed.error.message}`);
        return fail(400, "BAD_REQUEST", parsed.error.message);
      }
      const r = parsed.data;
      if (r.joinToken !== this.joinToken) return fail(401, "UNAUTHENTICATED", "invalid join token");
      this.registerRequests.push(r);
      const prev = this.nodes.get(r.name);
      const node: FakeNode = {
        nodeId: prev?.nodeId ?? randomUUID(),
        epoch: (prev?.epoch ?? 0) + 1,
        name: r.name,
        dataUrl: r.dataUrl,
        publicJwk: r.publicKey,
        publicKey: (await importJWK(r.publicKey, "EdDSA")) as CryptoKey,
        registrations: (prev?.registrations ?? 0) + 1,
      };
      this.nodes.set(r.name, node);
      return send(201, {
        nodeId: node.nodeId,
        epoch: node.epoch,
        status: "active",
        controlPublicKey: this.publicJwk,
        heartbeatIntervalMs: this.heartbeatIntervalMs,
      });
    }

    if (req.method === "POST" && req.url === "/api/nodes/heartbeat") {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!token) return fail(401, "UNAUTHENTICATED", "missing node token");
      const unverified = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as {
        sub?: string;
      };
      const node = [...this.nodes.values()].find((n) => n.nodeId === unverified.sub);
      if (!node) return fail(404, "NOT_FOUND", "unknown node");
      let claims;
      try {
        const { payload } = await jwtVerify(token, node.publicKey, { audience: "cumulus-control" });
        if (typeof payload.exp !== "number" || payload.exp - Math.floor(Date.now() / 1000) > 61) {
          this.errors.push("heartbeat: token expiry missing or longer than 60 s");
        }
        claims = ZNodeAuthClaims.parse(payload);
      } catch (err) {
        this.errors.push(`heartbeat token: ${String(err)}`);
        return fail(401, "UNAUTHENTICATED", "bad node token");
      }
      const parsed = ZHeartbeatRequest.safeParse(body);
      if (!parsed.success) {
        this.errors.push(`heartbeat: ${parsed.error.message}`);
        return fail(400, "BAD_REQUEST", parsed.error.message);
      }
      if (claims.epoch !== node.epoch) {
        return fail(409, "STALE_EPOCH", `epoch ${claims.epoch} is stale; current is ${node.epoch}`);
      }
      this.heartbeats.push({ name: node.name, body: parsed.data });
      return send(200, { status: "active", heartbeatIntervalMs: this.heartbeatIntervalMs });
    }
    if (req.method === "POST" && req.url === "/api/nodes/chunks/report") {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      const sub = (
        JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8") || "{}") as {
          sub?: string;
        }
      ).sub;
      const node = [...this.nodes.values()].find((n) => n.nodeId === sub);
      if (!node) return fail(404, "NOT_FOUND", "unknown node");
      this.chunkReports.push({ name: node.name, body });
      return send(200, { marked: 0 });
    }
    fail(404, "NOT_FOUND", `no route ${req.method} ${req.url}`);
  }
}
