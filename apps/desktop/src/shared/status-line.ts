// One readable line for an agent status, shared by the tray tooltip and the window so both
// always say the same thing.
import type { AgentStatus } from "@cumulus/protocol/agent";

export function percentDone(s: AgentStatus): number | null {
  const { bytesDone, bytesTotal } = s.progress;
  if (bytesTotal <= 0) return null;
  return Math.min(100, Math.floor((bytesDone / bytesTotal) * 100));
}

export function statusLine(s: AgentStatus | null): string {
  if (!s) return "Starting the sync agent…";
  switch (s.state) {
    case "signed-out":
      return "Not signed in";
    case "no-folder":
      return "Choose a folder to sync";
    case "syncing": {
      const n = s.progress.filesPending;
      const pct = percentDone(s);
      return n > 0 ? `Syncing ${n} file${n === 1 ? "" : "s"}${pct === null ? "" : ` (${pct}%)`}` : "Syncing…";
    }
    case "up-to-date":
      return "Up to date";
    case "paused":
      return "Paused";
    case "offline":
      return "Offline: changes will sync when the server is reachable";
    case "starting":
      return "Starting…";
    case "error":
      return s.message || `${s.errors} problem${s.errors === 1 ? "" : "s"} need attention`;
  }
}
