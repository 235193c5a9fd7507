import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPrismaClient, type PrismaClient } from "../client.ts";
import { withDatabase } from "../migrate.ts";
import type { TestDatabaseServer } from "./context.ts";

export { MIGRATIONS_DIR, SCHEMA_PATH, TEMPLATE_DATABASE } from "./context.ts";

export interface TestDatabase {
  name: string;
  url: string;
  /** Client over `url` with a small pool; closed by drop(). */
  prisma: PrismaClient;
  /** Disconnects the client and drops the database (idempotent). */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** Start from an empty database instead of the migrated template. */
  empty?: boolean;
}

let server: Promise<TestDatabaseServer> | undefined;

/** Asks the global setup for the shared PostgreSQL, starting it on the first call of the run. */
export function testDatabaseServer(): Promise<TestDatabaseServer> {
  server ??= (async () => {
    const coordinator = inject("cumulusDatabase");
    if (!coordinator) {
      throw new Error(
        "No test database coordinator: is packages/db/src/testing/global-setup.ts in Vitest's globalSetup?",
      );
    }
    const response = await fetch(coordinator.url, {
      method: "POST",
      headers: { authorization: `Bearer ${coordinator.token}` },
    });
    const body = (await response.json()) as TestDatabaseServer & { error?: string };
    if (!response.ok) throw new Error(`Test PostgreSQL is unavailable: ${body.error ?? response.status}`);
    return body;
  })().catch((error: unknown) => {
    server = undefined;
    throw error;
  });
  return server;
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database of its own, cloned from the migrated template (CREATE DATABASE … TEMPLATE). */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const { adminUrl, template, prefix } = await testDatabaseServer();
  const name = `${prefix}${randomBytes(5).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${name}"${options.empty ? "" : ` TEMPLATE "${template}"`}`);
  const url = withDatabase(adminUrl, name);
  const prisma = createPrismaClient(url, { poolSize: 3 });
  let dropped: Promise<void> | undefined;
  return {
    name,
    url,
    prisma,
    drop: () => {
      dropped ??= (async () => {
        await prisma.$disconnect();
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      })();
      return dropped;
    },
  };
}
