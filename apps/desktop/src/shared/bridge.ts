// The whole surface the preload script exposes as `window.cumulus`. Types only, so the
// renderer can import it without pulling in Electron. Every channel carries the "cumulus:"
// prefix; the main process refuses anything else.
import type { AgentConnection } from "./agent-client.ts";

export const IPC = {
  agent: "cumulus:agent",
  openFolder: "cumulus:open-folder",
  openWeb: "cumulus:open-web",
  chooseFolder: "cumulus:choose-folder",
  setStartAtLogin: "cumulus:set-start-at-login",
  getStartAtLogin: "cumulus:get-start-at-login",
} as const;
export type IpcChannel = (typeof IPC)[keyof typeof IPC];

export type CumulusBridge = {
  /** Where the in-process (or attached) agent listens, and its secret. */
  agent(): Promise<AgentConnection>;
  /** Opens the synced folder in the file manager; resolves to an error message or null. */
  openFolder(): Promise<string | null>;
  /** Opens the web app for this account in the default browser. */
  openWeb(): Promise<string | null>;
  /** Native folder picker; null when cancelled. */
  chooseFolder(): Promise<string | null>;
  setStartAtLogin(on: boolean): Promise<boolean>;
  getStartAtLogin(): Promise<boolean>;
  platform: string;
};
