import { z } from "zod";

/** A chunk id is the lowercase hex SHA-256 of the chunk's bytes. */
export const ZChunkId = z.string().regex(/^[0-9a-f]{64}$/, "a chunk id is 64 lowercase hex characters (SHA-256)");
export type ChunkId = z.infer<typeof ZChunkId>;

export const ZUuid = z.uuid();

export const ZNodeName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a node name is 1-63 lowercase letters, digits and dashes");
export const ZSiteName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a site name is 1-63 lowercase letters, digits and dashes");

/** Largest chunk FastCDC may emit; nodes refuse bodies above it. */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
