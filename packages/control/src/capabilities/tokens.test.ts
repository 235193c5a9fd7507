import { describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { generateKeyPair, SignJWT } from "jose";
import { batchForToken, MAX_CHUNKS_PER_TOKEN, readBatches } from "./tokens.ts";
import { fakeChunk } from "../fs/test-fixtures.ts";

// The real token for a batch, signed like signCapability does (the key does not matter for size).
async function tokenFor(claims: {
  op: string;
  aud: string[];
  chunks: string[];
  pipeline?: unknown;
  sub: string;
}): Promise<string> {
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return new SignJWT({
    op: claims.op,
    chunks: claims.chunks,
    ...(claims.pipeline ? { pipeline: claims.pipeline } : {}),
  })
    .setProtectedHeader({ alg: "EdDSA", kid: randomUUID(), typ: "JWT" })
    .setIssuer("cumulus-control")
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime("15m")
    .sign(privateKey);
}

describe("token batching", () => {
  it("keeps write tokens under 8 KiB and at most MAX_CHUNKS_PER_TOKEN chunks, in order", async () => {
    const ids = Array.from({ length: 500 }, () => fakeChunk().id);
    const pipeline = Array.from({ length: 16 }, (_, i) => ({
      nodeId: randomUUID(),
      url: `http://storage-node-${i}.example.internal:7101`,
    }));
    const fixed = { op: "write" as const, aud: pipeline.map((p) => p.nodeId), pipeline, sub: randomUUID() };
    const batches = batchForToken(ids, fixed);
    expect(batches.flat()).toEqual(ids);
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(MAX_CHUNKS_PER_TOKEN);
      expect((await tokenFor({ ...fixed, chunks: b })).length).toBeLessThan(8192);
    }
  });

  it("keeps read tokens under 8 KiB even when chunks live on many different nodes", async () => {
    const nodes = Array.from({ length: 120 }, () => randomUUID());
    const ids = Array.from({ length: 300 }, () => fakeChunk().id);
    const placement = new Map(
      ids.map((id, i) => [id, [nodes[i % 120]!, nodes[(i * 7) % 120]!, nodes[(i * 13) % 120]!]]),
    );
    const batches = readBatches(ids, (id) => placement.get(id)!);
    expect(batches.flatMap((b) => b.chunks)).toEqual(ids);
    for (const b of batches) {
      expect(new Set(b.aud)).toEqual(new Set(b.chunks.flatMap((id) => placement.get(id)!)));
      expect((await tokenFor({ op: "read", aud: b.aud, chunks: b.chunks, sub: randomUUID() })).length).toBeLessThan(
        8192,
      );
    }
  });
});
