import fs from "node:fs/promises";
import pg from "pg";
import { expect, test } from "vitest";
import { applyMigrations } from "./migrate.ts";
import { schemaToSql } from "./schema-diff.ts";
import { diffCatalogs, readCatalog } from "./testing/catalog.ts";
import { createTestDatabase, MIGRATIONS_DIR, SCHEMA_PATH, type TestDatabase } from "./testing/database.ts";

// The guard against editing schema.prisma without generating a migration: the database
// built by replaying prisma/migrations must equal the one Prisma's engine would create
// from schema.prisma today.

async function execute(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function databaseFromSchema(schema: string): Promise<TestDatabase> {
  const db = await createTestDatabase({ empty: true });
  await execute(db.url, await schemaToSql({ path: SCHEMA_PATH, content: schema }));
  return db;
}

test("replaying prisma/migrations yields exactly the database schema.prisma describes", async () => {
  const schema = await fs.readFile(SCHEMA_PATH, "utf8");
  const migrated = await createTestDatabase({ empty: true });
  const fresh = await databaseFromSchema(schema);
  try {
    await applyMigrations(migrated.url, { migrationsDir: MIGRATIONS_DIR });
    const fromMigrations = await readCatalog(migrated.url, { ignoreTables: ["_prisma_migrations"] });
    const fromSchema = await readCatalog(fresh.url);

    // Not vacuous: every model became a table with its constraints.
    const models = [...schema.matchAll(/^model (\w+) \{/gm)].map((m) => m[1]);
    const tables = [...fromSchema.keys()].filter((key) => key.startsWith("table ")).map((key) => key.slice(6));
    expect(tables.sort()).toEqual(models.sort());
    expect([...fromSchema.keys()].filter((key) => key.startsWith("constraint ")).length).toBeGreaterThan(models.length);

    const differences = diffCatalogs(fromMigrations, fromSchema, { left: "prisma/migrations", right: "schema.prisma" });
    expect(
      differences,
      "prisma/migrations and prisma/schema.prisma disagree: generate a migration with `npm run db:diff -- <name>`",
    ).toEqual([]);
  } finally {
    await Promise.all([migrated.drop(), fresh.drop()]);
  }
});

test("the comparison reports a schema change it was not told about, readably", async () => {
  const schema = await fs.readFile(SCHEMA_PATH, "utf8");
  const edited = schema
    .replace(/^model User \{\n/m, "model User {\n  nickname String? @db.VarChar(40)\n")
    .replace(/^enum Permission \{\n/m, "enum Permission {\n  own\n");
  expect(edited).not.toBe(schema);
  const original = await databaseFromSchema(schema);
  const changed = await databaseFromSchema(edited);
  try {
    const differences = diffCatalogs(await readCatalog(original.url), await readCatalog(changed.url), {
      left: "prisma/migrations",
      right: "schema.prisma",
    });
    expect(differences).toEqual([
      `column "User".nickname: only in schema.prisma: character varying(40) NULL`,
      `enum Permission: prisma/migrations has 'manage', 'read', 'write' | schema.prisma has 'manage', 'own', 'read', 'write'`,
    ]);
  } finally {
    await Promise.all([original.drop(), changed.drop()]);
  }
});
