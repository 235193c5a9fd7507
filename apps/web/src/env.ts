import { z } from "zod";
import { DEFAULT_CONTROL_CONFIG, type ControlConfig } from "@cumulus/control/context";
import type { Cidr } from "@cumulus/control/ip-rules/cidr";
import { parseTrustedProxies } from "@cumulus/control/ip-rules/client-ip";

const ZEnv = z.object({
  DATABASE_URL: z.string().min(1, "DATABASE_URL is required (npm start sets it for the cluster in a box)"),
  CUMULUS_NODE_TIMEOUT_MS: z.coerce.number().int().positive().default(DEFAULT_CONTROL_CONFIG.nodeTimeoutMs),
  CUMULUS_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().positive().default(DEFAULT_CONTROL_CONFIG.heartbeatIntervalMs),
  CUMULUS_CAPABILITY_TTL_S: z.coerce.number().int().positive().default(DEFAULT_CONTROL_CONFIG.capabilityTtlSeconds),
  CUMULUS_DEFAULT_REPLICAS: z.coerce.number().int().min(1).max(16).default(DEFAULT_CONTROL_CONFIG.defaultReplicas),
  CUMULUS_LOG_LEVEL: z.string().default("info"),
  // The reconciler (worker only): see packages/control/src/reconciler/config.ts.
  CUMULUS_RECONCILE_INTERVAL_MS: z.coerce.number().int().positive().optional(),
  CUMULUS_REPAIR_PER_NODE: z.coerce.number().int().positive().optional(),
  CUMULUS_REPAIR_CONCURRENCY: z.coerce.number().int().positive().optional(),
  CUMULUS_GC_GRACE_MS: z.coerce.number().int().min(0).optional(),
  CUMULUS_ORPHAN_SWEEP_MS: z.coerce.number().int().positive().optional(),
  CUMULUS_WORKER_NAME: z.string().max(100).optional(),
  // server/main.ts: where to listen (`-p` / `-H` override, as with `next start`).
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  // Reverse proxies whose X-Forwarded-For is believed: addresses or CIDR blocks, comma
  // separated. Default none: the client address is the TCP peer, whatever headers say.
  CUMULUS_TRUSTED_PROXIES: z.string().default(""),
});

export type Env = z.infer<typeof ZEnv>;

let parsed: Env | null = null;

/** The only place the control plane reads process.env. */
export function env(): Env {
  if (!parsed) parsed = ZEnv.parse(process.env);
  return parsed;
}

export function controlConfig(e: Env = env()): ControlConfig {
  return {
    nodeTimeoutMs: e.CUMULUS_NODE_TIMEOUT_MS,
    heartbeatIntervalMs: e.CUMULUS_HEARTBEAT_INTERVAL_MS,
    capabilityTtlSeconds: e.CUMULUS_CAPABILITY_TTL_S,
    defaultReplicas: e.CUMULUS_DEFAULT_REPLICAS,
  };
}

export type ServerConfig = { port: number; hostname: string; trustedProxies: Cidr[] };

/** Listening address and proxy trust for server/main.ts; argv takes `-p PORT -H HOST`. */
export function serverConfig(argv: readonly string[], e: Env = env()): ServerConfig {
  let port = e.PORT;
  // Not $HOSTNAME: shells set it to the machine's name. All interfaces, as `next start`.
  let hostname = "0.0.0.0";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if ((a === "-p" || a === "--port") && v !== undefined) {
      port = z.coerce.number().int().min(1).max(65535).parse(v);
      i++;
    } else if ((a === "-H" || a === "--hostname") && v !== undefined) {
      hostname = v;
      i++;
    } else {
      throw new Error(`unknown argument ${a ?? ""}: usage: server/main.ts [-p PORT] [-H HOST]`);
    }
  }
  return { port, hostname, trustedProxies: parseTrustedProxies(e.CUMULUS_TRUSTED_PROXIES) };
}
