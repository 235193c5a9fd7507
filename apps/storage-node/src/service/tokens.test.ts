import { describe, expect, it } from "vitest";
import { sameClientAddress } from "@cumulus/protocol/node-api";

describe("sameClientAddress (the capability token's ip claim)", () => {
  it("matches one address in any notation", () => {
    expect(sameClientAddress("10.1.2.3", "10.1.2.3")).toBe(true);
    expect(sameClientAddress("10.1.2.3", "::ffff:10.1.2.3")).toBe(true);
    expect(sameClientAddress("2001:db8::1", "2001:0DB8:0:0:0:0:0:1")).toBe(true);
    expect(sameClientAddress("[2001:db8::1]", "2001:db8::1%eth0")).toBe(true);
  });

  it("treats every loopback address as the same client", () => {
    expect(sameClientAddress("127.0.0.1", "::1")).toBe(true);
    expect(sameClientAddress("::ffff:127.0.0.1", "127.0.0.2")).toBe(true);
  });

  it("refuses other and unreadable addresses", () => {
    expect(sameClientAddress("10.1.2.3", "10.1.2.4")).toBe(false);
    expect(sameClientAddress("2001:db8::1", "2001:db8::2")).toBe(false);
    expect(sameClientAddress("10.1.2.3", "::a01:203")).toBe(false);
    expect(sameClientAddress("nonsense", "10.1.2.3")).toBe(false);
    expect(sameClientAddress("10.1.2.3", "")).toBe(false);
    expect(sameClientAddress("1.2.3.999", "1.2.3.999")).toBe(false);
  });
});

describe("CapabilityVerifier and the ip claim", () => {
  const nodeId = "11111111-1111-4111-8111-111111111111";
  const other = "22222222-2222-4222-8222-222222222222";
  const chunk = "c".repeat(64);

  async function setup() {
    const { generateKeyPair, exportJWK, SignJWT } = await import("jose");
    const { CapabilityVerifier } = await import("./tokens.ts");
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const jwk = await exportJWK(publicKey);
    const verifier = new CapabilityVerifier();
    await verifier.setKey({ kty: "OKP", crv: "Ed25519", x: String(jwk.x) });
    const mint = (claims: Record<string, unknown>) =>
      new SignJWT({ chunks: [chunk], ...claims })
        .setProtectedHeader({ alg: "EdDSA" })
        .setIssuer("cumulus-control")
        .setAudience([nodeId, other])
        .setSubject("u")
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(privateKey);
    return { verifier, mint };
  }

  it("checks a token arriving with many requests at once once; a bad one fails them all", async () => {
    const { verifier, mint } = await setup();
    const token = await mint({ op: "read" });
    const got = await Promise.all(
      Array.from({ length: 50 }, () => verifier.verify(token, { op: "read", nodeId, chunk })),
    );
    // One check: every request got the claims of that one check (each check parses its own).
    expect(new Set(got).size).toBe(1);
    const forged = token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA");
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => verifier.verify(forged, { op: "read", nodeId, chunk })),
    );
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    // Nothing of the failed check stays behind: the good token still verifies.
    await expect(verifier.verify(token, { op: "read", nodeId, chunk })).resolves.toBe(got[0]);
  });

  it("accepts a bound token only from its address; unbound tokens from anywhere", async () => {
    const { verifier, mint } = await setup();
    const bound = await mint({ op: "read", ip: "198.51.100.7" });
    await expect(
      verifier.verify(bound, { op: "read", nodeId, chunk, remoteAddress: "::ffff:198.51.100.7" }),
    ).resolves.toMatchObject({
      ip: "198.51.100.7",
    });
    await expect(
      verifier.verify(bound, { op: "read", nodeId, chunk, remoteAddress: "198.51.100.8" }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("issued to 198.51.100.7"),
    });
    await expect(verifier.verify(bound, { op: "read", nodeId, chunk })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const unbound = await mint({ op: "read" });
    await expect(
      verifier.verify(unbound, { op: "read", nodeId, chunk, remoteAddress: "203.0.113.1" }),
    ).resolves.toBeTruthy();
  });

  it("checks a write pipeline's token at the first hop only", async () => {
    const { verifier, mint } = await setup();
    const pipeline = [
      { nodeId, url: "http://a.test:1" },
      { nodeId: other, url: "http://b.test:1" },
    ];
    const token = await mint({ op: "write", pipeline, ip: "198.51.100.7" });
    await expect(
      verifier.verify(token, { op: "write", nodeId, chunk, remoteAddress: "10.0.0.9" }),
    ).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    // The second hop receives from the first node's address.
    await expect(
      verifier.verify(token, { op: "write", nodeId: other, chunk, remoteAddress: "10.0.0.9" }),
    ).resolves.toBeTruthy();
  });
});
