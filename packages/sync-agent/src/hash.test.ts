import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkStream } from "@cumulus/chunking/node";
import { chunkAndHashFile, contentHashOf, hashFile } from "./hash.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "cumulus-hash-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("chunkAndHashFile", () => {
  // Around the block sizes it picks (one block below 1 MiB, 1 MiB blocks below 8 MiB, 8 MiB above).
  it.each([0, 1, 4095, 4096, 100_000, 1024 * 1024 - 1, 1024 * 1024, 3_000_000, 8 * 1024 * 1024 + 5, 20_000_000])(
    "cuts and hashes a file of %i bytes exactly as the chunk stream the server's ids come from",
    async (n) => {
      const bytes = randomBytes(n);
      const p = path.join(dir, `f-${n}.bin`);
      await writeFile(p, bytes);
      const want: { id: string; size: number }[] = [];
      for await (const r of chunkStream([bytes])) want.push({ id: r.id, size: r.size });
      const got = await chunkAndHashFile(p, n);
      expect(got.chunks).toEqual(want);
      expect(got.size).toBe(n);
      expect(got.hash).toBe(contentHashOf(want));
      expect(await hashFile(p, n)).toBe(got.hash);
    },
  );

  it("names a missing file", async () => {
    await expect(chunkAndHashFile(path.join(dir, "nope.bin"), 10)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
