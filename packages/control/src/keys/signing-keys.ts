import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from "jose";
import { ZEd25519PublicJwk, type Ed25519PublicJwk } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";

const SETTING_KEY = "capabilitySigningKey";

type StoredKey = { kid: string; privateJwk: JWK; publicJwk: Ed25519PublicJwk };

export type SigningKey = { kid: string; privateKey: CryptoKey; publicJwk: Ed25519PublicJwk };

let cached: { url: unknown; key: Promise<SigningKey> } | null = null;

/**
 * The control plane's EdDSA key for capability tokens. It lives in the database so that
 * every control-plane instance (they are stateless behind a load balancer) signs with the
 * same key and nodes need only one public key. Created on first use; concurrent first
 * uses race on an insert and all end up reading the winner's key.
 */
export function getSigningKey(ctx: ControlContext): Promise<SigningKey> {
  if (cached && cached.url === ctx.prisma) return cached.key;
  const key = loadOrCreate(ctx).catch((err: unknown) => {
    cached = null;
    throw err;
  });
  cached = { url: ctx.prisma, key };
  return key;
}

async function loadOrCreate(ctx: ControlContext): Promise<SigningKey> {
  let row = await ctx.prisma.clusterSetting.findUnique({ where: { key: SETTING_KEY } });
  if (!row) {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const kid = crypto.randomUUID();
    const stored: StoredKey = {
      kid,
      privateJwk: await exportJWK(privateKey),
      publicJwk: ZEd25519PublicJwk.parse({ ...(await exportJWK(publicKey)), kid }),
    };
    await ctx.prisma.clusterSetting.createMany({ data: [{ key: SETTING_KEY, value: stored }], skipDuplicates: true });
    row = await ctx.prisma.clusterSetting.findUniqueOrThrow({ where: { key: SETTING_KEY } });
  }
  const stored = row.value as unknown as StoredKey;
  const privateKey = (await importJWK(stored.privateJwk, "EdDSA")) as CryptoKey;
  return { kid: stored.kid, privateKey, publicJwk: ZEd25519PublicJwk.parse(stored.publicJwk) };
}
