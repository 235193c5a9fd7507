// Writes the next migration: diffs the schema as of the last migration (its
// schema.prisma.snapshot) against prisma/schema.prisma with Prisma's WebAssembly schema
// engine, offline. Usage, from the repository root:
//   node scripts/db-diff.ts <name>     write prisma/migrations/<UTC timestamp>_<name>/
//   node scripts/db-diff.ts --check    exit 1 if schema.prisma has changes without a migration
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createMigration, pendingMigration } from "../packages/db/src/schema-diff.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const migrationsDir = path.join(root, "prisma", "migrations");
const schemaPath = path.join(root, "prisma", "schema.prisma");
const relative = (file: string): string => path.relative(process.cwd(), file) || ".";

const args = process.argv.slice(2);
try {
  if (args.length === 1 && args[0] === "--check") {
    const pending = await pendingMigration({ migrationsDir, schemaPath });
    if (pending) {
      console.error(
        `prisma/schema.prisma has changes that no migration contains; run: npm run db:diff -- <name>\n\n${pending.sql}`,
      );
      process.exitCode = 1;
    } else {
      console.log("no changes: the migrations match prisma/schema.prisma");
    }
  } else if (args.length === 1 && args[0] && !args[0].startsWith("-")) {
    const created = await createMigration({ migrationsDir, schemaPath, name: args[0] });
    if (created) {
      console.log(`wrote ${relative(path.join(created.dir, "migration.sql"))}\n\n${created.sql}`);
    } else {
      console.log("no changes: prisma/schema.prisma matches the last migration");
    }
  } else {
    console.error("usage: node scripts/db-diff.ts <migration-name> | --check");
    process.exitCode = 2;
  }
} catch (error) {
  console.error(`db-diff: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
