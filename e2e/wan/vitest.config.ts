import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The WAN emulator's own tests: root, network namespaces, no database.
//   cd /work/main && npx vitest run --config e2e/wan/vitest.config.ts
const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  cacheDir: path.join(here, "..", "..", "node_modules", ".vite", "e2e-wan"),
  test: {
    include: ["**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: "forks",
    // the tests measure timing and throughput: never two at once on a 2-core machine
    fileParallelism: false,
    maxWorkers: 1,
  },
});
