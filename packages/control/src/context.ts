import type { PrismaClient } from "@cumulus/db/client";
import type { Logger } from "pino";
import type { ChangeSignal } from "./changes/change-signal.ts";

/** What every control-plane service needs; built once per process by the app. */
export type ControlContext = {
  prisma: PrismaClient;
  log: Logger;
  config: ControlConfig;
  /** Wakes change-feed long-polls on commit; without it they poll the database. */
  changes?: ChangeSignal;
};

export type ControlConfig = {
  /** A node silent for longer than this is `down`. */
  nodeTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Lifetime of capability tokens handed to clients and nodes. */
  capabilityTtlSeconds: number;
  defaultReplicas: number;
};

export const DEFAULT_CONTROL_CONFIG: ControlConfig = {
  nodeTimeoutMs: 10_000,
  heartbeatIntervalMs: 2_000,
  capabilityTtlSeconds: 15 * 60,
  defaultReplicas: 2,
};
