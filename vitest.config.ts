import { defineConfig } from "vitest/config";

// One Vitest run for the whole repo: on a 2-core machine a single process pool beats
// one Vitest per workspace. Database-backed tests (*.int.test.ts) share one PostgreSQL
// started by the global setup; each test file gets its own database.
export default defineConfig({
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "apps/*/src/**/*.test.ts",
      "native/*/test/**/*.test.ts",
      "scripts/**/*.test.ts",
    ],
    globalSetup: ["./packages/db/src/testing/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
