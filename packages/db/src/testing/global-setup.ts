import { randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { MIGRATIONS_DIR, TEMPLATE_DATABASE, type TestDatabaseCoordinator, type TestDatabaseServer } from "./context.ts";
import { freePort } from "./net.ts";

// One PostgreSQL for the whole Vitest run, started lazily. The global setup cannot know
// which test files will ask for a database (the file list is not passed to it, and tests
// can be filtered by name), so instead of guessing it only opens a local HTTP endpoint
// (a few milliseconds) and provides its address; the first createTestDatabase() call in
// any worker makes this process start PostgreSQL and migrate the template. Runs without
// database tests never pay for PostgreSQL.
//
// With TEST_DATABASE_URL (or DATABASE_URL) set, that server is used instead, as in
// production; its user must be allowed to create databases.

interface Running {
  info: TestDatabaseServer;
  close(): Promise<void>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const token = randomBytes(24).toString("hex");
  const prefix = `cumulus_test_${randomBytes(3).toString("hex")}_`;
  let running: Promise<Running> | undefined;
  const ensure = (): Promise<Running> => {
    running ??= startServer(prefix).catch((error: unknown) => {
      running = undefined; // let a later request (or a watch-mode rerun) try again
      throw error;
    });
    return running;
  };

  const server = http.createServer((request, response) => {
    const auth = Buffer.from(request.headers.authorization ?? "");
    const expected = Buffer.from(`Bearer ${token}`);
    if (request.method !== "POST" || auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      response.writeHead(403).end();
      return;
    }
    ensure().then(
      ({ info }) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(info)),
      (error: unknown) =>
        response
          .writeHead(500, { "content-type": "application/json" })
          .end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  const coordinator: TestDatabaseCoordinator = { url: `http://127.0.0.1:${port}/`, token };
  project.provide("cumulusDatabase", coordinator);

  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const started = await running?.catch(() => undefined);
    await started?.close();
  };
}

async function startServer(prefix: string): Promise<Running> {
  // Loaded here so that runs without database tests do not even import pg.
  const { applyMigrations, checkDatabase, withDatabase } = await import("../migrate.ts");
  const pg = (await import("pg")).default;

  const admin = async (adminUrl: string, sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const buildTemplate = async (adminUrl: string): Promise<void> => {
    // Rebuilt every run: the migrations may have changed since the last one.
    await admin(adminUrl, `DROP DATABASE IF EXISTS "${TEMPLATE_DATABASE}" WITH (FORCE)`);
    await admin(adminUrl, `CREATE DATABASE "${TEMPLATE_DATABASE}"`);
    await applyMigrations(withDatabase(adminUrl, TEMPLATE_DATABASE), { migrationsDir: MIGRATIONS_DIR });
  };

  const external = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (external) {
    await checkDatabase(external);
    await buildTemplate(external);
    return {
      info: { adminUrl: external, template: TEMPLATE_DATABASE, prefix },
      // Tests drop their databases; this sweeps what failed tests left behind.
      close: async () => {
        const client = new pg.Client({ connectionString: external });
        await client.connect();
        try {
          const { rows } = await client.query<{ datname: string }>(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            [prefix],
          );
          for (const { datname } of rows) {
            await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(datname)} WITH (FORCE)`);
          }
        } finally {
          await client.end();
        }
      },
    };
  }

  const { startEmbeddedPostgres, EmbeddedPostgresError } = await import("../embedded.ts");
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "cumulus-test-pg-"));
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  const close = async (): Promise<void> => {
    await embedded?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  try {
    for (let attempt = 1; !embedded; attempt++) {
      try {
        embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), ephemeral: true });
      } catch (error) {
        // The free port can be taken between probing and binding; another one will do.
        if (!(error instanceof EmbeddedPostgresError && error.code === "port-in-use") || attempt === 3) throw error;
      }
    }
    await buildTemplate(embedded.adminUrl);
    return { info: { adminUrl: embedded.adminUrl, template: TEMPLATE_DATABASE, prefix }, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
