import { defineConfig } from "prisma/config";

// Only `prisma generate` is used (see scripts/prisma-generate.sh); migrations are SQL
// files applied by packages/db's runner, so no datasource URL is needed here.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
