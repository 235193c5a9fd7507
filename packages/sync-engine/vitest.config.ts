import { defineConfig } from "vitest/config";

// Standalone config without the repo-wide global setup (which starts PostgreSQL):
// the sync engine core is pure and its tests need no database.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["src/**/*.test.ts"],
    testTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
