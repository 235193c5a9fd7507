import { defineConfig } from "vitest/config";

// Standalone config without the repo-wide global setup (which starts PostgreSQL):
// the agent's unit tests use temp dirs and a loopback server, no database.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["src/**/*.test.ts"],
    testTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
