// Which status changes deserve a desktop notification. Pure: main.ts feeds it the previous
// and the new status (plus the agent's error list when the error count rose) and shows what
// comes back. Only news is notified: a restart that finds old conflicts stays quiet, and a
// burst of conflicts gives one notification, not one per file.
import type { AgentError, AgentStatus } from "@cumulus/protocol/agent";

export type DesktopNotification = { kind: "conflict" | "error" | "signed-out"; title: string; body: string };

export type NotifyOptions = {
  enabled: boolean;
  /** The agent's current errors (GET /api/errors), newest last or first: sorted here. */
  errors?: AgentError[];
};

/** True when main should fetch /api/errors before calling notificationsFor. */
export function needsErrorDetails(prev: AgentStatus | null, next: AgentStatus): boolean {
  return !!prev && next.errors > prev.errors;
}

export function notificationsFor(
  prev: AgentStatus | null,
  next: AgentStatus,
  opts: NotifyOptions,
): DesktopNotification[] {
  if (!opts.enabled) return [];
  const out: DesktopNotification[] = [];
  const where = next.localDir ? ` in ${next.localDir}` : "";

  if (prev && next.conflicts > prev.conflicts) {
    const n = next.conflicts - prev.conflicts;
    out.push({
      kind: "conflict",
      title: n === 1 ? "A file was edited in two places" : `${n} files were edited in two places`,
      body: `Both versions were kept: look for "conflicted copy"${where}.`,
    });
  }

  const newErrors = prev ? next.errors > prev.errors : false;
  const enteredError = next.state === "error" && prev?.state !== "error";
  if (newErrors || enteredError) {
    const newest = [...(opts.errors ?? [])].sort((a, b) => b.at - a.at)[0];
    if (newest) {
      out.push({
        kind: "error",
        title: newest.path ? `Cannot sync ${newest.path}` : "Sync problem",
        body: `${newest.message}. ${newest.fix}`.replace(/\.\./g, "."),
      });
    } else {
      out.push({ kind: "error", title: "Sync problem", body: next.message || "Open Cumulus to see what went wrong." });
    }
  }

  if (prev && prev.state !== "signed-out" && next.state === "signed-out") {
    out.push({ kind: "signed-out", title: "Signed out", body: "Sign in again to keep this folder in sync." });
  }
  return out;
}
