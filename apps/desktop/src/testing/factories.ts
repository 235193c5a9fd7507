// Small factories for agent-API values in tests: valid by construction (parsed with the
// contract's schemas), so a test states only what it is about.
import { ZAgentSettings, ZAgentStatus, type AgentSettings, type AgentStatus } from "@cumulus/protocol/agent";

export function makeStatus(
  over: Partial<AgentStatus> = {},
  progress: Partial<AgentStatus["progress"]> = {},
): AgentStatus {
  return ZAgentStatus.parse({
    state: "up-to-date",
    message: "Up to date",
    server: "http://127.0.0.1:3000",
    user: "ada@example.com",
    device: "laptop",
    localDir: "/home/ada/Cumulus",
    remotePath: "/",
    lastSyncedAt: 1_700_000_000_000,
    errors: 0,
    conflicts: 0,
    cursor: 1,
    webUrl: "http://127.0.0.1:3000/files",
    startedAt: 1_700_000_000_000,
    revision: 1,
    ...over,
    progress: { filesPending: 0, bytesTotal: 0, bytesDone: 0, current: [], ...progress },
  });
}

export function makeSettings(over: Partial<AgentSettings> = {}): AgentSettings {
  return ZAgentSettings.parse({
    localDir: "/home/ada/Cumulus",
    remotePath: "/",
    excluded: [],
    startAtLogin: false,
    notifications: true,
    uploadLimit: 0,
    downloadLimit: 0,
    ...over,
  });
}
