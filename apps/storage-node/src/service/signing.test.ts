import { SignJWT, decodeProtectedHeader, generateKeyPair, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { signEdDsaJwt, signReceipt } from "./signing.ts";

describe("receipt signing", () => {
  it("makes exactly the JWT jose makes, and it verifies", async () => {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
    const claims = { iss: "node-1", epoch: 3, chunk: "ab".repeat(32), size: 4096, iat: 1_800_000_000 };
    const ours = signEdDsaJwt(privateKey, claims);
    expect(ours).toBe(await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA" }).sign(privateKey));
    const receipt = await signReceipt(privateKey, { nodeId: "node-1", epoch: 3, chunk: claims.chunk, size: 4096 });
    expect(decodeProtectedHeader(receipt)).toEqual({ alg: "EdDSA" });
    const { payload } = await jwtVerify(receipt, publicKey);
    expect(payload).toMatchObject({ iss: "node-1", epoch: 3, chunk: claims.chunk, size: 4096 });
  });
});
