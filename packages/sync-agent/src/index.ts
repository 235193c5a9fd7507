// The one entry that runs a whole agent: the sync engine plus its local control API. The
// desktop app's main process (apps/desktop/src/main/agent-host.ts) and `cumulus sync` both
// start agents through it, so the window and the browser UI always talk to the same thing.
import os from "node:os";
import path from "node:path";
import { SyncAgent } from "./agent.ts";
import { startControlApi } from "./control-api.ts";

export interface StartAgentOptions {
  /** Database, credentials and agent.json live here. */
  stateDir: string;
  /** Built UI (apps/desktop/out/renderer) to serve at "/"; none: the API only. */
  uiDir?: string;
  /** null / absent: the folder saved in the settings, else none yet ("no-folder" until chosen). */
  localDir?: string | null;
  /** Empty / absent: the saved one, else the user's home folder. */
  remotePath?: string;
  device?: string;
  /** Absent: the credentials saved by an earlier sign-in, else "signed-out". */
  server?: string | null;
  token?: string | null;
  user?: string | null;
  port?: number;
  secret?: string;
  watch?: boolean;
  log?: (line: string) => void;
}

export interface RunningAgent {
  port: number;
  secret: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The UI's address with the secret in the fragment (never in a query string). */
  uiUrl: string;
  agent: SyncAgent;
  /** Closes the API, then stops the agent (the operation in flight is aborted cleanly). */
  stop(): Promise<void>;
}

export async function startAgent(opts: StartAgentOptions): Promise<RunningAgent> {
  const agent = new SyncAgent({
    localDir: opts.localDir ?? null,
    remotePath: opts.remotePath ?? "",
    stateDir: path.resolve(opts.stateDir),
    device: opts.device ?? (os.hostname() || "cumulus-desktop").slice(0, 100),
    server: opts.server ?? null,
    token: opts.token ?? null,
    user: opts.user ?? null,
    ...(opts.watch !== undefined ? { watch: opts.watch } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  await agent.start();
  let api;
  try {
    api = await startControlApi(agent, {
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
      ...(opts.secret ? { secret: opts.secret } : {}),
    });
  } catch (err) {
    await agent.stop();
    throw err;
  }
  const close = api.close;
  return {
    port: api.port,
    secret: api.secret,
    url: api.url,
    uiUrl: `${api.url}/#secret=${api.secret}`,
    agent,
    async stop() {
      await close();
      await agent.stop();
    },
  };
}
