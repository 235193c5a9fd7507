import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, test } from "vitest";
import { applyMigrations, checkDatabase, ensureDatabase, withDatabase } from "./migrate.ts";
import { createTestDatabase, MIGRATIONS_DIR, testDatabaseServer, type TestDatabase } from "./testing/database.ts";
import { freePort } from "./testing/net.ts";

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

let db: TestDatabase;
let dir: string;
beforeEach(async () => {
  db = await createTestDatabase({ empty: true });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cumulus-migrations-"));
});
afterEach(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function writeMigration(name: string, sql: string): Promise<void> {
  await fs.mkdir(path.join(dir, name), { recursive: true });
  await fs.writeFile(path.join(dir, name, "migration.sql"), sql);
}

describe("with the repository's migrations", () => {
  test("applying twice applies nothing the second time", async () => {
    const names = (await fs.readdir(MIGRATIONS_DIR, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(names.length).toBeGreaterThan(0);
    expect(await applyMigrations(db.url, { migrationsDir: MIGRATIONS_DIR })).toEqual({ applied: names });
    expect(await applyMigrations(db.url, { migrationsDir: MIGRATIONS_DIR })).toEqual({ applied: [] });
    expect(await query(db.url, `SELECT count(*)::int AS n FROM _prisma_migrations`)).toEqual([{ n: names.length }]);
  });

  test("_prisma_migrations has Prisma's table and rows", async () => {
    await applyMigrations(db.url, { migrationsDir: MIGRATIONS_DIR });
    const columns = await query(
      db.url,
      `SELECT column_name, data_type, character_maximum_length AS max, is_nullable, column_default
       FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: "id", data_type: "character varying", max: 36, is_nullable: "NO", column_default: null },
      { column_name: "checksum", data_type: "character varying", max: 64, is_nullable: "NO", column_default: null },
      {
        column_name: "finished_at",
        data_type: "timestamp with time zone",
        max: null,
        is_nullable: "YES",
        column_default: null,
      },
      {
        column_name: "migration_name",
        data_type: "character varying",
        max: 255,
        is_nullable: "NO",
        column_default: null,
      },
      { column_name: "logs", data_type: "text", max: null, is_nullable: "YES", column_default: null },
      {
        column_name: "rolled_back_at",
        data_type: "timestamp with time zone",
        max: null,
        is_nullable: "YES",
        column_default: null,
      },
      {
        column_name: "started_at",
        data_type: "timestamp with time zone",
        max: null,
        is_nullable: "NO",
        column_default: "now()",
      },
      { column_name: "applied_steps_count", data_type: "integer", max: null, is_nullable: "NO", column_default: "0" },
    ]);

    const rows = await query<Record<string, unknown>>(
      db.url,
      `SELECT * FROM _prisma_migrations ORDER BY migration_name`,
    );
    const first = rows[0]!;
    const file = await fs.readFile(path.join(MIGRATIONS_DIR, String(first.migration_name), "migration.sql"));
    expect(first).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      checksum: createHash("sha256").update(file).digest("hex"),
      finished_at: expect.any(Date),
      migration_name: expect.stringMatching(/^\d{14}_init$/),
      logs: null,
      rolled_back_at: null,
      started_at: expect.any(Date),
      applied_steps_count: 1,
    });
    expect((first.finished_at as Date).getTime()).toBeGreaterThanOrEqual((first.started_at as Date).getTime());
  });
});

describe("with scratch migrations", () => {
  test("an applied migration whose file changed is refused", async () => {
    const original = "CREATE TABLE a (\n  id int\n);\n";
    await writeMigration("001_a", original);
    await writeMigration("002_b", "CREATE TABLE b (id int);\n");
    await applyMigrations(db.url, { migrationsDir: dir });
    await writeMigration("001_a", original.replace("int", "bigint"));
    await writeMigration("003_c", "CREATE TABLE c (id int);\n");
    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(
      /^Migration 001_a was edited after it was applied \(checksum differs\): restore the original migration\.sql/,
    );
    expect(await query(db.url, `SELECT to_regclass('c') AS c`)).toEqual([{ c: null }]);

    // Only the line endings differ (a Windows checkout): not an edit, as for Prisma.
    await writeMigration("001_a", original.replaceAll("\n", "\r\n"));
    expect(await applyMigrations(db.url, { migrationsDir: dir })).toEqual({ applied: ["003_c"] });
  });

  test("a failing migration is rolled back, recorded, and can be retried once fixed", async () => {
    await writeMigration("001_ok", `CREATE TABLE ok (id int);`);
    await writeMigration("002_bad", `CREATE TABLE half (id int);\n\nINSERT INTO missing VALUES (1);\n`);
    const error = await applyMigrations(db.url, { migrationsDir: dir }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toBe(
      `Migration 002_bad failed and was rolled back: relation "missing" does not exist (migration.sql line 3)`,
    );
    expect(await query(db.url, `SELECT to_regclass('ok') IS NOT NULL AS ok, to_regclass('half') AS half`)).toEqual([
      { ok: true, half: null },
    ]);
    const failed = await query(
      db.url,
      `SELECT finished_at, rolled_back_at IS NOT NULL AS rolled_back, logs FROM _prisma_migrations WHERE migration_name = '002_bad'`,
    );
    expect(failed).toEqual([{ finished_at: null, rolled_back: true, logs: expect.stringContaining("missing") }]);

    await writeMigration("002_bad", `CREATE TABLE half (id int);\n`);
    expect(await applyMigrations(db.url, { migrationsDir: dir })).toEqual({ applied: ["002_bad"] });
  });

  test("a failed migration left by another tool is refused until resolved", async () => {
    await writeMigration("001_a", `CREATE TABLE a (id int);`);
    await applyMigrations(db.url, { migrationsDir: dir });
    // What `prisma migrate deploy` records when a non-transactional migration breaks halfway.
    await query(
      db.url,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, applied_steps_count)
       VALUES ('6f1c7a2e-0000-4000-8000-000000000000', 'x', '002_b', 'ERROR: boom', now(), 0)`,
    );
    await writeMigration("002_b", `CREATE TABLE b (id int);`);
    await expect(applyMigrations(db.url, { migrationsDir: dir })).rejects.toThrow(
      /^Migration 002_b failed \(started .*\): ERROR: boom; repair the database, then mark it rolled back/,
    );
    await query(db.url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = '002_b'`);
    expect(await applyMigrations(db.url, { migrationsDir: dir })).toEqual({ applied: ["002_b"] });
  });

  test("two processes migrating at once apply each migration once", async () => {
    for (let i = 1; i <= 4; i++) {
      await writeMigration(`00${i}_m`, `SELECT pg_sleep(0.15);\nCREATE TABLE t${i} (id int);\n`);
    }
    const waits: string[] = [];
    const [a, b] = await Promise.all([
      applyMigrations(db.url, { migrationsDir: dir, log: (m) => waits.push(`a: ${m}`) }),
      applyMigrations(db.url, { migrationsDir: dir, log: (m) => waits.push(`b: ${m}`) }),
    ]);
    expect([...a.applied, ...b.applied].sort()).toEqual(["001_m", "002_m", "003_m", "004_m"]);
    expect([a.applied.length, b.applied.length].sort()).toEqual([0, 4]);
    expect(waits.filter((m) => m.includes("waiting for another process"))).toHaveLength(1);
    expect(
      await query(db.url, `SELECT migration_name, count(*)::int AS n FROM _prisma_migrations GROUP BY 1 ORDER BY 1`),
    ).toEqual(["001_m", "002_m", "003_m", "004_m"].map((migration_name) => ({ migration_name, n: 1 })));
  });
});

describe("checkDatabase and ensureDatabase", () => {
  let adminUrl: string;
  const extra: string[] = [];
  beforeEach(async () => {
    adminUrl = (await testDatabaseServer()).adminUrl;
  });
  afterAll(async () => {
    for (const name of extra) await query(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });

  test("a healthy database passes", async () => {
    await expect(checkDatabase(db.url)).resolves.toBeUndefined();
  });

  test("each failure is one line naming the problem", async () => {
    const port = await freePort();
    const unreachable = new URL(db.url);
    unreachable.port = String(port);
    await expect(checkDatabase(unreachable.toString())).rejects.toThrow(
      new RegExp(
        `^cannot reach PostgreSQL at 127\\.0\\.0\\.1:${port}: connection refused \\(is the server running\\?\\)$`,
      ),
    );

    const badPassword = new URL(db.url);
    badPassword.password = "wrong";
    await expect(checkDatabase(badPassword.toString())).rejects.toThrow(
      /^PostgreSQL at 127\.0\.0\.1:\d+ rejected the password for user "postgres"$/,
    );

    await expect(checkDatabase(withDatabase(db.url, "no_such_db"))).rejects.toThrow(
      /^Database "no_such_db" does not exist on PostgreSQL at 127\.0\.0\.1:\d+$/,
    );
  });

  test("ensureDatabase creates once, also when raced", async () => {
    const name = `${db.name}_extra`;
    extra.push(name);
    const results = await Promise.all([ensureDatabase(adminUrl, name), ensureDatabase(adminUrl, name)]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await ensureDatabase(adminUrl, name)).toEqual({ created: false });
    await expect(checkDatabase(withDatabase(adminUrl, name))).resolves.toBeUndefined();
  });
});
