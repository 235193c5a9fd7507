import { randomBytes } from "node:crypto";
import { open, rename } from "node:fs/promises";
import path from "node:path";
import { mkdirp } from "./preflight.ts";

/** Writes a file so that readers see the old or the new content, never a torn one. */
export async function writeFileAtomic(file: string, data: string, mode = 0o644): Promise<void> {
  await mkdirp(path.dirname(file));
  // Random part: two writes of the same file in the same millisecond must not share a temp file.
  const tmp = `${file}.${process.pid}.${Date.now()}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}
