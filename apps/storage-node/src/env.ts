import path from "node:path";
import { z } from "zod";
import { ZNodeName, ZSiteName } from "@cumulus/protocol/ids";

/**
 * The only place that reads process.env. Everything else receives a `NodeConfig`, so
 * tests can start nodes in-process with plain objects and no global state.
 */

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const ZEnv = z.object({
  CUMULUS_NODE_NAME: ZNodeName.default("node-1"),
  CUMULUS_NODE_SITE: ZSiteName.default("local"),
  CUMULUS_NODE_DATA_DIR: z.string().min(1).optional(),
  CUMULUS_NODE_HOST: z.string().min(1).default("127.0.0.1"),
  CUMULUS_NODE_PORT: int(0, 65535).default(7101),
  /** Advertised data URL when the bind address is not what others should dial (0.0.0.0, NAT). */
  CUMULUS_NODE_PUBLIC_URL: z.url().optional(),
  CUMULUS_CONTROL_URL: z.url().default("http://127.0.0.1:3000"),
  // Development default so a localhost cluster starts without setup; production deployments
  // must set a real join token (the control plane decides which tokens it accepts).
  // No default: a node must be given the join token of the cluster it joins (npm start does).
  CUMULUS_JOIN_TOKEN: z
    .string({ error: "CUMULUS_JOIN_TOKEN is required: the join token of the cluster (npm start passes it)" })
    .min(16, "the join token is at least 16 characters")
    .max(512),
  CUMULUS_NODE_CAPACITY_BYTES: int(1, Number.MAX_SAFE_INTEGER).optional(),
  /** UDT data listener (WAN acceleration): a UDP port, 0 = any, "off" = none. Default HTTP port + 1000. */
  CUMULUS_NODE_UDT_PORT: z.union([z.literal("off"), int(0, 65535)]).optional(),
  /** host:port announced for UDT when the bind address is not what others should dial. */
  CUMULUS_NODE_UDT_PUBLIC_ADDRESS: z.string().min(3).max(255).optional(),
  /**
   * The WAN link's rate in Mbit/s for UDT's rate-based congestion control (native/udt
   * `rateMbit`): set it on private links of known capacity; unset = UDT's own controller.
   */
  CUMULUS_NODE_UDT_RATE_MBIT: z.coerce.number().min(1).max(100_000).optional(),
  // Below the 10 s the cluster supervisor waits before SIGKILL, so a drain can finish cleanly.
  CUMULUS_NODE_SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(8_000),
  CUMULUS_LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** Background re-hash budget (bytes/s); 0 turns the scrubber off. */
  CUMULUS_NODE_SCRUB_BYTES_PER_SEC: int(0, Number.MAX_SAFE_INTEGER).default(50 * 1024 * 1024),
  /** Pause between two full scrub passes. */
  CUMULUS_NODE_SCRUB_INTERVAL_MS: int(100, 30 * 24 * 3600_000).default(3600_000),
});

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface NodeConfig {
  name: string;
  site: string;
  dataDir: string;
  host: string;
  port: number;
  publicUrl: string | undefined;
  controlUrl: string;
  joinToken: string;
  capacityBytes: number | undefined;
  /** UDT listener port: undefined = HTTP port + 1000 (0 if the HTTP port is 0), null = no UDT. */
  udtPort?: number | null | undefined;
  /** Announced UDT address (host:port); default <host>:<bound port>. */
  udtPublicAddress?: string | undefined;
  /** UDT rate-based congestion control at this many Mbit/s; undefined = UDT's own. */
  udtRateMbit?: number | undefined;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  /** Scrubber budget in bytes/s (0: off); default 50 MiB/s. */
  scrubBytesPerSec?: number;
  /** Pause between scrub passes; default 1 h. */
  scrubIntervalMs?: number;
}

export function loadConfig(env: Record<string, string | undefined>, cwd: string): NodeConfig {
  // An empty variable means "unset": shells and compose files often export VAR= .
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = ZEnv.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid storage node environment: ${problems}`);
  }
  const e = parsed.data;
  return {
    name: e.CUMULUS_NODE_NAME,
    site: e.CUMULUS_NODE_SITE,
    dataDir: path.resolve(cwd, e.CUMULUS_NODE_DATA_DIR ?? path.join(".data", "nodes", e.CUMULUS_NODE_NAME)),
    host: e.CUMULUS_NODE_HOST,
    port: e.CUMULUS_NODE_PORT,
    publicUrl: e.CUMULUS_NODE_PUBLIC_URL?.replace(/\/+$/, ""),
    controlUrl: e.CUMULUS_CONTROL_URL.replace(/\/+$/, ""),
    joinToken: e.CUMULUS_JOIN_TOKEN,
    capacityBytes: e.CUMULUS_NODE_CAPACITY_BYTES,
    udtPort: e.CUMULUS_NODE_UDT_PORT === "off" ? null : e.CUMULUS_NODE_UDT_PORT,
    udtPublicAddress: e.CUMULUS_NODE_UDT_PUBLIC_ADDRESS,
    udtRateMbit: e.CUMULUS_NODE_UDT_RATE_MBIT,
    shutdownTimeoutMs: e.CUMULUS_NODE_SHUTDOWN_TIMEOUT_MS,
    logLevel: e.CUMULUS_LOG_LEVEL,
    scrubBytesPerSec: e.CUMULUS_NODE_SCRUB_BYTES_PER_SEC,
    scrubIntervalMs: e.CUMULUS_NODE_SCRUB_INTERVAL_MS,
  };
}
