// Shared by the *.int.test.ts files of the namespace, upload and download code: users,
// registered storage nodes with their private keys, receipts and whole uploads.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { pino } from "pino";
import type { PrismaClient } from "@cumulus/db/client";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { BeginUploadResponse } from "@cumulus/protocol/api";
import { DEFAULT_CONTROL_CONFIG, type ControlConfig, type ControlContext } from "../context.ts";
import { setJoinToken } from "../cluster/join-token.ts";
import { registerNode } from "../nodes/register-node.ts";
import { hashPassword } from "../auth/passwords.ts";
import type { AuthUser } from "../access/access.ts";
import { beginUpload } from "../uploads/begin-upload.ts";
import { commitUpload } from "../uploads/commit-upload.ts";
import { whoami } from "./home.ts";

export function testContext(prisma: PrismaClient, config: Partial<ControlConfig> = {}): ControlContext {
  return {
    prisma,
    log: pino({ level: "silent" }),
    config: { ...DEFAULT_CONTROL_CONFIG, nodeTimeoutMs: 60_000, ...config },
  };
}

export async function createUser(
  ctx: ControlContext,
  email: string,
  opts: { role?: "admin" | "user"; password?: string; disabled?: boolean } = {},
): Promise<AuthUser> {
  const user = await ctx.prisma.user.create({
    data: { email, name: email.split("@")[0]!, role: opts.role ?? "user", disabled: opts.disabled ?? false },
  });
  if (opts.password) {
    await ctx.prisma.account.create({
      data: {
        id: randomUUID(),
        accountId: user.id,
        providerId: "credential",
        userId: user.id,
        password: await hashPassword(opts.password),
      },
    });
  }
  return { id: user.id, email: user.email, name: user.name, role: user.role, tokenId: null };
}

export type TestNode = { id: string; name: string; site: string; epoch: number; privateKey: CryptoKey; url: string };

let joinToken: { prisma: unknown; token: Promise<string> } | null = null;

export async function addNode(
  ctx: ControlContext,
  name: string,
  site: string,
  capacityBytes = 1e12,
): Promise<TestNode> {
  if (!joinToken || joinToken.prisma !== ctx.prisma) joinToken = { prisma: ctx.prisma, token: setJoinToken(ctx) };
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = await exportJWK(publicKey);
  const url = `http://${name}.test:7101`;
  const r = await registerNode(ctx, {
    joinToken: await joinToken.token,
    name,
    site,
    dataUrl: url,
    udtAddress: null,
    publicKey: { kty: "OKP", crv: "Ed25519", x: jwk.x! },
    usage: { capacityBytes, usedBytes: 0, chunkCount: 0 },
    version: "test",
  });
  return { id: r.nodeId, name, site, epoch: r.epoch, privateKey, url };
}

export function signReceipt(
  node: TestNode,
  chunk: string,
  size: number,
  opts: { epoch?: number; key?: CryptoKey; iss?: string } = {},
): Promise<string> {
  return new SignJWT({ epoch: opts.epoch ?? node.epoch, chunk, size })
    .setProtectedHeader({ alg: "EdDSA" })
    .setIssuer(opts.iss ?? node.id)
    .setIssuedAt()
    .sign(opts.key ?? node.privateKey);
}

/** A fake chunk: an id that looks like a SHA-256 and a size. */
export function fakeChunk(size = 1000): { id: string; size: number } {
  return { id: createHash("sha256").update(randomBytes(16)).digest("hex"), size };
}

export function manifest(chunks: { id: string; size: number }[]) {
  return { size: chunks.reduce((s, c) => s + c.size, 0), chunks };
}

/** Receipts from every node of each missing chunk's pipeline, as the nodes would return them. */
export async function receiptsFor(
  plan: BeginUploadResponse,
  nodes: readonly TestNode[],
): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const m of plan.missing) {
    out[m.id] = await Promise.all(
      m.pipeline.map((hop) => {
        const node = nodes.find((n) => n.id === hop.nodeId);
        if (!node) throw new Error(`pipeline names unknown node ${hop.node}`);
        return signReceipt(node, m.id, m.size);
      }),
    );
  }
  return out;
}

/** Begin + receipts from the planned pipelines + commit. */
export async function upload(
  ctx: ControlContext,
  user: AuthUser,
  nodes: readonly TestNode[],
  path: string,
  chunks: { id: string; size: number }[],
  opts: { baseVersion?: number | null; parents?: boolean } = {},
) {
  const plan = await beginUpload(ctx, user, {
    path,
    ...manifest(chunks),
    baseVersion: opts.baseVersion ?? null,
    parents: opts.parents ?? false,
  });
  const committed = await commitUpload(ctx, user, plan.uploadId, { receipts: await receiptsFor(plan, nodes) });
  return { plan, ...committed };
}

export type TestCluster = {
  db: TestDatabase;
  ctx: ControlContext;
  alice: AuthUser;
  bob: AuthUser;
  /** alice's and bob's home folders (created). */
  home: string;
  bobHome: string;
  nodes: TestNode[];
};

/**
 * The usual int-test world: a fresh database, alice and bob with their homes, and storage
 * nodes given as [name, site] (registered in order). Drop `db` in afterAll.
 */
export async function setupCluster(opts: {
  replicas: number;
  nodes: readonly (readonly [name: string, site: string])[];
}): Promise<TestCluster> {
  const db = await createTestDatabase();
  const ctx = testContext(db.prisma, { defaultReplicas: opts.replicas });
  const alice = await createUser(ctx, "alice@corp.test");
  const bob = await createUser(ctx, "bob@corp.test");
  const home = (await whoami(ctx, alice)).home;
  const bobHome = (await whoami(ctx, bob)).home;
  const nodes: TestNode[] = [];
  for (const [name, site] of opts.nodes) nodes.push(await addNode(ctx, name, site));
  return { db, ctx, alice, bob, home, bobHome, nodes };
}
