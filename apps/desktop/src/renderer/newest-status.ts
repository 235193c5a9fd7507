// Status snapshots reach the window over several connections at once: the event stream, the
// reply to a button's POST, a GET after the folder was chosen. A reply that was on its way
// while the stream delivered something newer must not overwrite it — the window would then
// show "Starting…" for good, since an idle agent sends nothing more. Snapshots carry the
// agent's start time and a counter, so the newest one can be told apart.
import type { AgentStatus } from "@cumulus/protocol/agent";

/** The snapshot to show: `next` unless `current` is newer (a later agent start wins). */
export function newestStatus(current: AgentStatus | null, next: AgentStatus): AgentStatus {
  if (!current) return next;
  if (next.startedAt !== current.startedAt) return next.startedAt > current.startedAt ? next : current;
  return next.revision >= current.revision ? next : current;
}
