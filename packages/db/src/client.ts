import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/client.ts";

export * from "./generated/client.ts";

export interface PrismaClientOptions {
  /** Connections in the pool. Default 5: the control plane runs on small boxes next to
   * PostgreSQL, whose default max_connections (100) is shared with every other process. */
  poolSize?: number;
}

export function createPrismaClient(databaseUrl: string, options: PrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.poolSize ?? 5,
    // pg waits forever for a connection by default; a dead server should surface as an
    // error instead of a hung request.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  return new PrismaClient({ adapter });
}
