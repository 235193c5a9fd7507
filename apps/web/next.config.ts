import type { NextConfig } from "next";

const config: NextConfig = {
  // Workspace packages ship TypeScript source (no build step); Next compiles them.
  transpilePackages: [
    "@cumulus/control",
    "@cumulus/protocol",
    "@cumulus/db",
    "@cumulus/placement",
    "@cumulus/client",
    "@cumulus/chunking",
  ],
  // Native or Node-only modules stay as runtime requires instead of being bundled.
  serverExternalPackages: ["@node-rs/argon2", "pg", "pino", "graphile-worker", "@prisma/adapter-pg", "@prisma/client"],
  // Type-checking runs once for the whole repo (`npm run typecheck`), not again per build.
  typescript: { ignoreBuildErrors: true },
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
