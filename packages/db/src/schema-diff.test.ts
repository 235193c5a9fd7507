import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, test } from "vitest";
import {
  createMigration,
  MIGRATION_LOCK_TOML,
  migrationSlug,
  migrationTimestamp,
  pendingMigration,
  SNAPSHOT_FILE,
} from "./schema-diff.ts";
import { MIGRATIONS_DIR, SCHEMA_PATH } from "./testing/context.ts";

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cumulus-schema-diff-"));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const SCHEMA = `datasource db {
  provider = "postgresql"
}

model Note {
  id   Int    @id @default(autoincrement())
  text String
}
`;

test("prisma/schema.prisma has no changes missing from prisma/migrations", async () => {
  const pending = await pendingMigration({ migrationsDir: MIGRATIONS_DIR, schemaPath: SCHEMA_PATH });
  expect(pending?.sql ?? null, "run `npm run db:diff -- <name>`").toBeNull();
});

test("createMigration starts from an empty database, then diffs against the last snapshot", async () => {
  const schemaPath = path.join(dir, "schema.prisma");
  const migrationsDir = path.join(dir, "migrations");
  await fs.writeFile(schemaPath, SCHEMA);

  const first = await createMigration({
    migrationsDir,
    schemaPath,
    name: "init",
    now: new Date("2025-01-02T03:04:05Z"),
  });
  expect(first?.name).toBe("20250102030405_init");
  expect(first?.sql).toContain(`CREATE TABLE "Note"`);
  expect(await fs.readFile(path.join(migrationsDir, first!.name, "migration.sql"), "utf8")).toBe(first!.sql);
  expect(await fs.readFile(path.join(migrationsDir, first!.name, SNAPSHOT_FILE), "utf8")).toBe(SCHEMA);
  expect(await fs.readFile(path.join(migrationsDir, "migration_lock.toml"), "utf8")).toBe(MIGRATION_LOCK_TOML);

  expect(await createMigration({ migrationsDir, schemaPath, name: "nothing" })).toBeNull();

  await fs.writeFile(schemaPath, SCHEMA.replace("text String", "text String\n  pinned Boolean @default(false)"));
  const second = await createMigration({
    migrationsDir,
    schemaPath,
    name: "pin notes!",
    now: new Date("2025-01-03T00:00:00Z"),
  });
  expect(second?.name).toBe("20250103000000_pin_notes");
  expect(second?.sql).toContain(`ALTER TABLE "Note" ADD COLUMN     "pinned" BOOLEAN NOT NULL DEFAULT false;`);
  expect(second?.sql).not.toContain("CREATE TABLE");

  await fs.writeFile(schemaPath, `${SCHEMA}\nmodel Tag {\n  id Int @id\n}\n`);
  await expect(
    createMigration({ migrationsDir, schemaPath, name: "late", now: new Date("2024-12-31T00:00:00Z") }),
  ).rejects.toThrow(/would sort before the last one \(20250103000000_pin_notes\)/);
});

test("a migration without its snapshot is reported, not silently diffed from empty", async () => {
  const schemaPath = path.join(dir, "schema.prisma");
  await fs.writeFile(schemaPath, SCHEMA);
  await fs.mkdir(path.join(dir, "migrations", "20250101000000_init"), { recursive: true });
  await expect(pendingMigration({ migrationsDir: path.join(dir, "migrations"), schemaPath })).rejects.toThrow(
    /schema\.prisma\.snapshot is missing/,
  );
});

test("an invalid schema fails with the engine's message", async () => {
  const schemaPath = path.join(dir, "schema.prisma");
  await fs.writeFile(schemaPath, `${SCHEMA}\nmodel Broken {\n  id Int @id\n  note Nope\n}\n`);
  await expect(pendingMigration({ migrationsDir: path.join(dir, "migrations"), schemaPath })).rejects.toThrow(/Nope/);
});

test("names and timestamps follow Prisma's layout", () => {
  expect(migrationTimestamp(new Date("2025-12-31T23:59:58.999Z"))).toBe("20251231235958");
  expect(migrationSlug(" add share-links ")).toBe("add_share_links");
  expect(() => migrationSlug("--")).toThrow(/no letters or digits/);
});
