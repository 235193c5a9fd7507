import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { z } from "zod";
import { ZEd25519PublicJwk, type Ed25519PublicJwk } from "@cumulus/protocol/node-api";
import { errnoCode, writeFileAtomic } from "./fs-util.ts";

/**
 * <dataDir>/node.json: who this node is across restarts. The private key never leaves
 * the file; the control plane learns the public half at registration and from then on
 * trusts receipts and heartbeats signed with it.
 */

const ZIdentityFile = z.object({
  version: z.literal(1),
  name: z.string(),
  site: z.string(),
  privateKey: z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string(), d: z.string() }),
  nodeId: z.uuid().nullable(),
  epoch: z.number().int().positive().nullable(),
});
type IdentityFile = z.infer<typeof ZIdentityFile>;

export class NodeIdentity {
  readonly file: string;
  /**
   * A KeyObject, not a WebCrypto key: receipts are signed synchronously with node:crypto
   * (service/signing.ts), and converting a non-extractable CryptoKey is deprecated.
   */
  readonly privateKey: KeyObject;
  readonly publicJwk: Ed25519PublicJwk;
  private data: IdentityFile;

  private constructor(file: string, data: IdentityFile, privateKey: KeyObject, publicJwk: Ed25519PublicJwk) {
    this.file = file;
    this.data = data;
    this.privateKey = privateKey;
    this.publicJwk = publicJwk;
  }

  get name(): string {
    return this.data.name;
  }
  get site(): string {
    return this.data.site;
  }
  get nodeId(): string | null {
    return this.data.nodeId;
  }
  get epoch(): number | null {
    return this.data.epoch;
  }

  /**
   * Loads or creates the identity. A data dir written by another node name is refused:
   * its chunks belong to that node, and silently adopting them would corrupt placement.
   */
  static async loadOrCreate(dataDir: string, name: string, site: string): Promise<NodeIdentity> {
    const file = path.join(dataDir, "node.json");
    let raw: string | null = null;
    try {
      raw = await readFile(file, "utf8");
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw err;
    }
    let data: IdentityFile;
    if (raw === null) {
      const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
      const jwk = await exportJWK(privateKey);
      data = {
        version: 1,
        name,
        site,
        privateKey: { kty: "OKP", crv: "Ed25519", x: String(jwk.x), d: String(jwk.d) },
        nodeId: null,
        epoch: null,
      };
      await writeFileAtomic(file, JSON.stringify(data, null, 2) + "\n");
    } else {
      const parsed = ZIdentityFile.safeParse(JSON.parse(raw));
      if (!parsed.success) throw new Error(`${file} is not a valid node identity: ${parsed.error.message}`);
      data = parsed.data;
      if (data.name !== name) {
        throw new Error(
          `data dir ${dataDir} belongs to storage node "${data.name}", not "${name}": ` +
            `set CUMULUS_NODE_NAME=${data.name} or use another CUMULUS_NODE_DATA_DIR`,
        );
      }
      if (data.site !== site) {
        data = { ...data, site };
        await writeFileAtomic(file, JSON.stringify(data, null, 2) + "\n");
      }
    }
    const privateKey = createPrivateKey({ key: data.privateKey, format: "jwk" });
    const publicJwk = ZEd25519PublicJwk.parse({ kty: "OKP", crv: "Ed25519", x: data.privateKey.x });
    return new NodeIdentity(file, data, privateKey, publicJwk);
  }

  async saveRegistration(nodeId: string, epoch: number): Promise<void> {
    this.data = { ...this.data, nodeId, epoch };
    await writeFileAtomic(this.file, JSON.stringify(this.data, null, 2) + "\n");
  }
}
