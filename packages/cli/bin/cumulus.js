#!/usr/bin/env node
// Launcher for the `cumulus` command. The CLI is TypeScript run by Node's type
// stripping, which needs Node >= 22.18; an older node re-executes this script with the
// repository's pinned Node when there is one.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [major, minor] = process.versions.node.split(".").map(Number);
if (major > 22 || (major === 22 && minor >= 18)) {
  // Most of start-up is compiling and type-stripping our TypeScript (about 0.25 CPU-s per
  // command): Node's compile cache (in the OS temp dir) keeps the result between runs.
  module.enableCompileCache?.();
  await import("../src/main.ts");
} else {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const pinned = path.resolve(here, "..", "..", "..", ".tools", "node", "bin", "node");
  if (existsSync(pinned) && !process.env.CUMULUS_REEXEC) {
    const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, CUMULUS_REEXEC: "1" },
    });
    process.exit(r.status ?? (r.signal === "SIGINT" ? 130 : 1));
  } else {
    process.stderr.write(`cumulus: Node >= 22.18 is needed (this is Node ${process.versions.node})\n`);
    process.exit(1);
  }
}
