import { fileURLToPath } from "node:url";

/** What the global setup hands to test files through Vitest's provide/inject. */
export interface TestDatabaseCoordinator {
  /** Local HTTP endpoint that starts PostgreSQL on first use (see global-setup.ts). */
  url: string;
  token: string;
}

/** The coordinator's answer once PostgreSQL is up and the template is migrated. */
export interface TestDatabaseServer {
  /** Superuser URL; its database is not for tests to use. */
  adminUrl: string;
  /** Migrated database that test databases are cloned from. */
  template: string;
  /** Prefix of every database this run creates, so leftovers can be swept. */
  prefix: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    cumulusDatabase: TestDatabaseCoordinator;
  }
}

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../../prisma/migrations", import.meta.url));
export const SCHEMA_PATH = fileURLToPath(new URL("../../../../prisma/schema.prisma", import.meta.url));
export const TEMPLATE_DATABASE = "cumulus_template";
