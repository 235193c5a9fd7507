import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";

// Applies prisma/migrations the way `prisma migrate deploy` does (same bookkeeping table,
// same checksums, same advisory lock), because Prisma's own engine cannot be downloaded
// here. A database migrated by either tool is accepted by the other.

/** Prisma's DDL for its bookkeeping table, verbatim apart from IF NOT EXISTS. */
export const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

/** The key Prisma's schema engine locks, so this runner and Prisma's exclude each other. */
export const MIGRATION_LOCK_KEY = 72707369;

export type DbErrorCode =
  "unreachable" | "auth" | "missing-database" | "migration-modified" | "migration-failed" | "migrations-dir";

export class DbError extends Error {
  readonly code: DbErrorCode;
  constructor(code: DbErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DbError";
    this.code = code;
  }
}

export interface Migration {
  /** Directory name, e.g. `20250101120000_init`. */
  name: string;
  sql: string;
  /** SHA-256 (hex) of migration.sql, as Prisma records it. */
  checksum: string;
}

export interface ApplyMigrationsOptions {
  /** Usually `<repo>/prisma/migrations`. */
  migrationsDir: string;
  log?: (message: string) => void;
}

export async function readMigrations(migrationsDir: string): Promise<Migration[]> {
  let entries;
  try {
    entries = await fs.readdir(migrationsDir, { withFileTypes: true });
  } catch (error) {
    throw new DbError(
      "migrations-dir",
      `Cannot read migrations directory ${migrationsDir}: ${(error as Error).message}`,
    );
  }
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(migrationsDir, name, "migration.sql");
      let sql: string;
      try {
        sql = await fs.readFile(file, "utf8");
      } catch {
        throw new DbError("migrations-dir", `Migration ${name} has no migration.sql (${file})`);
      }
      return { name, sql, checksum: sha256(sql) };
    }),
  );
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Like Prisma, a checkout that only changed line endings (git autocrlf) is not an edit. */
function checksumMatches(migration: Migration, recorded: string): boolean {
  return (
    migration.checksum === recorded ||
    sha256(migration.sql.replaceAll("\r\n", "\n")) === recorded ||
    sha256(migration.sql.replaceAll(/\r?\n/g, "\r\n")) === recorded
  );
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  started_at: Date;
  logs: string | null;
}

export async function applyMigrations(
  databaseUrl: string,
  options: ApplyMigrationsOptions,
): Promise<{ applied: string[] }> {
  const log = options.log ?? (() => undefined);
  const migrations = await readMigrations(options.migrationsDir);
  const client = await connect(databaseUrl);
  try {
    const locked = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [
      MIGRATION_LOCK_KEY,
    ]);
    if (!locked.rows[0]?.locked) {
      log("waiting for another process to finish applying migrations");
      await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    }
    // Everything below runs under the lock, so a second process arriving at the same time
    // sees the first one's rows and finds nothing left to do.
    await client.query(MIGRATIONS_TABLE_DDL);
    const { rows } = await client.query<MigrationRow>(
      "SELECT id, checksum, migration_name, finished_at, rolled_back_at, started_at, logs FROM _prisma_migrations ORDER BY started_at, migration_name",
    );
    const live = rows.filter((row) => row.rolled_back_at === null);
    const failed = live.find((row) => row.finished_at === null);
    if (failed) {
      const reason = failed.logs ? `: ${firstLine(failed.logs)}` : "";
      throw new DbError(
        "migration-failed",
        `Migration ${failed.migration_name} failed (started ${failed.started_at.toISOString()})${reason}; ` +
          `repair the database, then mark it rolled back (UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = '${failed.id}') and retry`,
      );
    }
    const appliedRows = new Map(live.map((row) => [row.migration_name, row]));
    const known = new Set(migrations.map((migration) => migration.name));
    for (const migration of migrations) {
      const row = appliedRows.get(migration.name);
      if (row && !checksumMatches(migration, row.checksum)) {
        throw new DbError(
          "migration-modified",
          `Migration ${migration.name} was edited after it was applied (checksum differs): restore the original migration.sql and put the change in a new migration (npm run db:diff -- <name>)`,
        );
      }
    }
    for (const row of live) {
      if (!known.has(row.migration_name)) {
        log(`database has migration ${row.migration_name}, which is not in ${options.migrationsDir} (newer code?)`);
      }
    }

    const applied: string[] = [];
    for (const migration of migrations) {
      if (appliedRows.has(migration.name)) continue;
      log(`applying migration ${migration.name}`);
      await applyOne(client, migration);
      applied.push(migration.name);
    }
    return { applied };
  } finally {
    // Closing the session releases the advisory lock even if unlocking is skipped.
    await client.end().catch(() => undefined);
  }
}

async function applyOne(client: pg.Client, migration: Migration): Promise<void> {
  const id = randomUUID();
  const startedAt = new Date();
  try {
    await client.query("BEGIN");
    await client.query(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)",
      [id, migration.checksum, migration.name],
    );
    // Simple-query protocol (no parameters): the whole file runs as one multi-statement script.
    await client.query(migration.sql);
    await client.query(
      "UPDATE _prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1",
      [id],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    const reason = describeSqlError(error, migration.sql);
    // Recorded like Prisma records a failure, but already marked rolled back: the
    // transaction undid every statement, so retrying after a fix is safe.
    await client
      .query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at, rolled_back_at, applied_steps_count) VALUES ($1, $2, $3, $4, $5, now(), 0)",
        [randomUUID(), migration.checksum, migration.name, reason, startedAt],
      )
      .catch(() => undefined);
    throw new DbError("migration-failed", `Migration ${migration.name} failed and was rolled back: ${reason}`, {
      cause: error,
    });
  }
}

function describeSqlError(error: unknown, sql: string): string {
  const pgError = error as { message?: string; position?: string; code?: string };
  const message = pgError.message ?? String(error);
  const position = Number(pgError.position);
  if (!Number.isInteger(position) || position <= 0) return message;
  const line = sql.slice(0, position - 1).split("\n").length;
  return `${message} (migration.sql line ${line})`;
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? text).trim();
}

// ---------------------------------------------------------------------------
// Connections and databases.

/** The URL with its database replaced; credentials and parameters are kept. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function describeTarget(client: pg.Client): { where: string; user: string; database: string } {
  const params = client as unknown as { host?: string; port?: number; user?: string; database?: string };
  return {
    where: `${params.host ?? "localhost"}:${params.port ?? 5432}`,
    user: params.user ?? "",
    database: params.database ?? "",
  };
}

/** Turns a connection failure into one line that says what to fix. */
function connectionError(error: unknown, client: pg.Client): DbError {
  const { where, user, database } = describeTarget(client);
  const err = error as { code?: string; message?: string };
  const message = firstLine(err.message ?? String(error));
  switch (err.code) {
    case "28P01":
      return new DbError("auth", `PostgreSQL at ${where} rejected the password for user "${user}"`, { cause: error });
    case "28000":
      return new DbError("auth", `PostgreSQL at ${where} refused user "${user}": ${message}`, { cause: error });
    case "3D000":
      return new DbError("missing-database", `Database "${database}" does not exist on PostgreSQL at ${where}`, {
        cause: error,
      });
    case "57P03":
      return new DbError(
        "unreachable",
        `cannot reach PostgreSQL at ${where}: the server is starting up or shutting down`,
        { cause: error },
      );
    case "ECONNREFUSED":
      return new DbError(
        "unreachable",
        `cannot reach PostgreSQL at ${where}: connection refused (is the server running?)`,
        { cause: error },
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new DbError("unreachable", `cannot reach PostgreSQL at ${where}: unknown host`, { cause: error });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
    case "ECONNRESET":
      return new DbError("unreachable", `cannot reach PostgreSQL at ${where}: ${err.code}`, { cause: error });
  }
  if (/timeout/i.test(message)) {
    return new DbError("unreachable", `cannot reach PostgreSQL at ${where}: connection timed out`, { cause: error });
  }
  if (/terminated unexpectedly|ECONNRESET|socket/i.test(message)) {
    return new DbError("unreachable", `cannot reach PostgreSQL at ${where}: ${message}`, { cause: error });
  }
  return new DbError("unreachable", `cannot use PostgreSQL at ${where}: ${message}`, { cause: error });
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A server that goes away later emits 'error' on the client; without a listener that
  // would crash the process instead of failing the pending query.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionError(error, client);
  }
  return client;
}

/** Throws a one-line DbError naming the problem: unreachable, bad credentials, no such database. */
export async function checkDatabase(url: string): Promise<void> {
  const client = await connect(url);
  try {
    await client.query("SELECT 1");
  } catch (error) {
    throw connectionError(error, client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates database `name` unless it exists; `adminUrl` is any database on the same server. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<{ created: boolean }> {
  const client = await connect(adminUrl);
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount !== 0) return { created: false };
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      return { created: true };
    } catch (error) {
      // Lost a race with another process creating it: duplicate_database, or the unique
      // index on pg_database when both inserts got that far.
      const code = (error as { code?: string }).code;
      if (code === "42P04" || code === "23505") return { created: false };
      throw error;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
