import { readFile } from "node:fs/promises";
import path from "node:path";
import { jwtVerify, importJWK, SignJWT } from "jose";
import { afterEach, expect, it } from "vitest";
import { NodeIdentity } from "./identity.ts";
import { signEdDsaJwt } from "../service/signing.ts";
import { tempDir } from "../testing/util.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

it("creates node.json once and keeps the same key and registration across restarts", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const first = await NodeIdentity.loadOrCreate(dir, "node-x", "site-a");
  expect(first.nodeId).toBeNull();
  await first.saveRegistration("6f1c1a4e-4f7e-4b8e-9d1e-2b7a8c9d0e1f", 4);

  const again = await NodeIdentity.loadOrCreate(dir, "node-x", "site-b");
  expect(again.publicJwk).toEqual(first.publicJwk);
  expect(again.nodeId).toBe("6f1c1a4e-4f7e-4b8e-9d1e-2b7a8c9d0e1f");
  expect(again.epoch).toBe(4);
  expect(again.site).toBe("site-b");

  // The persisted private key signs what the public key verifies.
  const jws = await new SignJWT({ a: 1 }).setProtectedHeader({ alg: "EdDSA" }).sign(again.privateKey);
  await jwtVerify(jws, await importJWK(first.publicJwk, "EdDSA"));
  // And so does the synchronous receipt signer, with no conversion of a WebCrypto key
  // (Node 24 deprecates that for non-extractable keys: DEP0204).
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? w.message);
  process.on("warning", onWarning);
  const receipt = signEdDsaJwt(again.privateKey, { iss: "n", chunk: "c" });
  await new Promise((r) => setImmediate(r));
  process.off("warning", onWarning);
  expect((await jwtVerify(receipt, await importJWK(first.publicJwk, "EdDSA"))).payload).toMatchObject({ chunk: "c" });
  expect(warnings).toEqual([]);

  const raw = JSON.parse(await readFile(path.join(dir, "node.json"), "utf8")) as Record<string, unknown>;
  expect(raw).toMatchObject({ name: "node-x", site: "site-b", epoch: 4 });
});

it("refuses a data dir that belongs to another node name", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  await NodeIdentity.loadOrCreate(dir, "node-x", "s");
  await expect(NodeIdentity.loadOrCreate(dir, "node-y", "s")).rejects.toThrow(/belongs to storage node "node-x"/);
});
