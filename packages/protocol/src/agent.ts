import { z } from "zod";

/**
 * The sync agent's local control API: what `cumulus sync --status`, the desktop window and
 * the same window served by the headless agent talk to. It listens on 127.0.0.1 only and
 * every request carries the per-agent secret (`Authorization: Bearer <secret>`); the secret
 * and port are written to the agent's state directory (`agent.json`, mode 0600) so local
 * tools can find them. The browser UI served by the agent gets the secret once through the
 * URL fragment (`/#secret=…`), never in a query string that could land in a log.
 *
 * Routes (JSON in and out, errors as `{ error: { code, message } }` like the control plane):
 *   GET  /api/status             → AgentStatus
 *   GET  /api/activity?limit=N   → { items: ActivityItem[] } (newest first)
 *   GET  /api/errors             → { items: AgentError[] }
 *   POST /api/pause              → AgentStatus
 *   POST /api/resume             → AgentStatus
 *   GET  /api/tree?path=/a       → { path, children: SelectiveNode[] } (remote folders)
 *   PUT  /api/selective          → AgentSettings   body: { excluded: string[] }
 *   GET  /api/settings           → AgentSettings
 *   PUT  /api/settings           → AgentSettings   body: Partial<AgentSettingsInput>
 *   POST /api/sign-in            → AgentStatus     body: SignIn (device token created)
 *   POST /api/sign-out           → AgentStatus
 *   GET  /api/events             → text/event-stream of AgentStatus (on every change)
 */

export const ZAgentState = z.enum([
  "signed-out",
  "no-folder",
  "starting",
  "syncing",
  "up-to-date",
  "paused",
  "offline",
  "error",
]);
export type AgentState = z.infer<typeof ZAgentState>;

export const ZAgentProgress = z.object({
  /** Files still to upload or download in the current plan. */
  filesPending: z.number().int().min(0),
  bytesTotal: z.number().int().min(0),
  bytesDone: z.number().int().min(0),
  /** Paths being transferred right now (at most a few). */
  current: z.array(z.string()),
});
export type AgentProgress = z.infer<typeof ZAgentProgress>;

export const ZAgentStatus = z.object({
  state: ZAgentState,
  /** One line a person can read: "Up to date", "Syncing 3 files (12 MB of 40 MB)", … */
  message: z.string(),
  server: z.string().nullable(),
  user: z.string().nullable(),
  device: z.string(),
  localDir: z.string().nullable(),
  remotePath: z.string().nullable(),
  progress: ZAgentProgress,
  /** Unix ms of the last time both sides were equal, or null. */
  lastSyncedAt: z.number().nullable(),
  /** Number of unresolved errors (details under /api/errors). */
  errors: z.number().int().min(0),
  /** Conflicted copies created since start. */
  conflicts: z.number().int().min(0),
  /** Change-feed cursor applied to the remote tree. */
  cursor: z.number().int().min(0),
  webUrl: z.string().nullable(),
  /**
   * When this agent process started (Unix ms) and a counter that grows with every snapshot it
   * hands out. Answers travel on separate connections (the event stream, a POST's reply, a
   * GET), so they can arrive out of order; a reader keeps the newest snapshot by these two.
   */
  startedAt: z.number().int().min(0),
  revision: z.number().int().min(0),
});
export type AgentStatus = z.infer<typeof ZAgentStatus>;

export const ZActivityItem = z.object({
  at: z.number(),
  /** upload, download, mkdir, move, delete, conflict, … (the operation's kind, made readable). */
  action: z.string(),
  path: z.string(),
  side: z.enum(["local", "remote", "both"]),
  detail: z.string().optional(),
});
export type ActivityItem = z.infer<typeof ZActivityItem>;

export const ZAgentError = z.object({
  at: z.number(),
  path: z.string().nullable(),
  /** Machine-readable: PERMISSION_DENIED, DISK_FULL, INVALID_NAME, NETWORK, AUTH, … */
  code: z.string(),
  message: z.string(),
  /** What the person can do about it. */
  fix: z.string(),
  retrying: z.boolean(),
});
export type AgentError = z.infer<typeof ZAgentError>;

export const ZSelectiveNode = z.object({
  path: z.string(),
  name: z.string(),
  hasChildren: z.boolean(),
  /** Synced (true), excluded here (false) or partly (some subfolder excluded). */
  included: z.union([z.boolean(), z.literal("partial")]),
});
export type SelectiveNode = z.infer<typeof ZSelectiveNode>;

export const ZAgentSettings = z.object({
  localDir: z.string().nullable(),
  remotePath: z.string(),
  /** Remote paths (relative to remotePath, starting with "/") not synced to this device. */
  excluded: z.array(z.string()),
  startAtLogin: z.boolean(),
  notifications: z.boolean(),
  /** Transfer limits in bytes per second, 0 = none. */
  uploadLimit: z.number().int().min(0),
  downloadLimit: z.number().int().min(0),
});
export type AgentSettings = z.infer<typeof ZAgentSettings>;

export const ZAgentSettingsInput = ZAgentSettings.partial();
export type AgentSettingsInput = z.infer<typeof ZAgentSettingsInput>;

export const ZSelectiveInput = z.object({ excluded: z.array(z.string().startsWith("/")) });

export const ZSignIn = z.object({
  server: z.url(),
  email: z.string().min(1),
  password: z.string().min(1),
  /** Local folder to sync; may also be chosen later through /api/settings. */
  localDir: z.string().min(1).optional(),
});
export type SignIn = z.infer<typeof ZSignIn>;

/** `agent.json` in the agent's state directory. */
export const ZAgentEndpoint = z.object({
  port: z.number().int().min(1).max(65535),
  secret: z.string().min(32),
  pid: z.number().int(),
});
export type AgentEndpoint = z.infer<typeof ZAgentEndpoint>;
