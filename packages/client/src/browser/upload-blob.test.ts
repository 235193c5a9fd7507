import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CumulusClient } from "../client.ts";
import { downloadFile } from "../node/download-file.ts";
import { chunkLocalFile } from "../node/upload-file.ts";
import { startFakeCluster, type FakeCluster } from "../testing/fake-cluster.ts";
import { chunkBlobManifest, uploadBlob } from "./upload-blob.ts";

// Runs in Node, whose Blob, fetch and Web Crypto are the web platform's.
let fc: FakeCluster;
let dir: string;

beforeAll(async () => {
  fc = await startFakeCluster();
  dir = await mkdtemp(path.join(os.tmpdir(), "cumulus-blob-test-"));
});

afterAll(async () => {
  await fc.close();
  await rm(dir, { recursive: true, force: true });
});

it("uploads a Blob with the same chunks as the Node path, and it downloads intact", async () => {
  const bytes = randomBytes(5 * 1024 * 1024 + 3);
  const file = path.join(dir, "x.bin");
  await writeFile(file, bytes);
  const blob = new Blob([bytes]);
  expect(await chunkBlobManifest(blob)).toEqual(await chunkLocalFile(file));

  const client = new CumulusClient({ server: fc.url, token: "good-token" });
  const r = await uploadBlob(client, blob, { path: "/blob.bin", retryBaseMs: 1 });
  expect(r).toMatchObject({ bytesTotal: bytes.length, bytesUploaded: bytes.length, version: 1, unchanged: false });

  const out = path.join(dir, "out.bin");
  await downloadFile(client, { remotePath: "/blob.bin", localPath: out });
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
  expect(sha(await readFile(out))).toBe(sha(bytes));
});
