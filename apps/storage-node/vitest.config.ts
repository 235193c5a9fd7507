import path from "node:path";
import { defineConfig } from "vitest/config";

// Local config so the storage node's suite runs without the repo-wide PostgreSQL global
// setup: nothing here touches a database.
export default defineConfig({
  cacheDir: path.resolve(import.meta.dirname, "../../node_modules/.vite/storage-node"),
  test: {
    root: import.meta.dirname,
    include: ["src/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
