import path from "node:path";
import { z } from "zod";
import { parseBytes } from "@cumulus/protocol/bytes";

const ZBoxEnv = z.object({
  CUMULUS_DATA_DIR: z.string().default(".data"),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  HOSTNAME: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().optional(),
  CUMULUS_PG_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  CUMULUS_NODE_BASE_PORT: z.coerce.number().int().min(1).max(65535).default(7101),
  CUMULUS_ADMIN_EMAIL: z.string().email().default("admin@localhost"),
  CUMULUS_ADMIN_PASSWORD: z.string().optional(),
  CUMULUS_NODE_TIMEOUT_MS: z.coerce.number().int().positive().optional(),
  CUMULUS_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().positive().optional(),
  CUMULUS_LOG_LEVEL: z.string().default("info"),
  /** Control-plane workers; more than one gives the reconciler a standby leader. */
  CUMULUS_WORKERS: z.coerce.number().int().min(1).max(8).default(1),
  // Passed through to the control plane and its workers when set.
  CUMULUS_DEFAULT_REPLICAS: z.coerce.number().int().min(1).max(16).optional(),
  CUMULUS_RECONCILE_INTERVAL_MS: z.coerce.number().int().positive().optional(),
  CUMULUS_REPAIR_PER_NODE: z.coerce.number().int().positive().optional(),
  CUMULUS_REPAIR_CONCURRENCY: z.coerce.number().int().positive().optional(),
  CUMULUS_GC_GRACE_MS: z.coerce.number().int().min(0).optional(),
  CUMULUS_ORPHAN_SWEEP_MS: z.coerce.number().int().positive().optional(),
  /** Reverse proxies whose X-Forwarded-For the control plane believes (CIDR list). */
  CUMULUS_TRUSTED_PROXIES: z.string().optional(),
  // Passed through to the storage nodes when set.
  /** What each storage node may hold ("500G", "2T", bytes); default: its disk's size. */
  CUMULUS_NODE_CAPACITY_BYTES: z
    .string()
    .optional()
    .transform((s, c) => {
      if (s === undefined || s.trim() === "") return undefined;
      const n = parseBytes(s);
      if (n === null || !Number.isSafeInteger(n) || n <= 0) {
        c.addIssue({ code: "custom", message: `cannot read "${s}" as a size: give one such as 500G or 2T` });
        return z.NEVER;
      }
      return n;
    }),
  CUMULUS_NODE_SCRUB_BYTES_PER_SEC: z.coerce.number().int().min(0).optional(),
  CUMULUS_NODE_SCRUB_INTERVAL_MS: z.coerce.number().int().positive().optional(),
  /** "off": storage nodes without their UDT listener (HTTP only). */
  CUMULUS_NODE_UDT: z.enum(["on", "off"]).default("on"),
});

export type BoxEnv = z.infer<typeof ZBoxEnv> & { dataDir: string; repoRoot: string };

/** The only place the box reads process.env. */
export function loadBoxEnv(repoRoot: string, source: NodeJS.ProcessEnv = process.env): BoxEnv {
  const parsed = ZBoxEnv.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`bad configuration: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const dataDir = path.resolve(repoRoot, parsed.data.CUMULUS_DATA_DIR);
  return { ...parsed.data, dataDir, repoRoot };
}
