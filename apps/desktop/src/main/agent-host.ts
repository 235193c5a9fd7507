// How the desktop app gets a running sync agent. Two ways behind one interface:
//  - in-process: the agent from @cumulus/sync-agent runs inside the main process (the normal
//    case), imported lazily so the window and tray come up before the engine loads;
//  - attached: a headless `cumulus sync` already runs for this state directory, and its
//    agent.json (port + secret, mode 0600) says where.
// A live headless agent for the same state directory wins: two agents on one state database
// and folder would fight. Otherwise the agent runs in-process.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { ZAgentEndpoint } from "@cumulus/protocol/agent";
import type { AgentConnection } from "../shared/agent-client.ts";

export interface AgentHost {
  readonly kind: "in-process" | "attached";
  readonly connection: AgentConnection;
  /** Stops the agent if this host started it; an attached agent keeps running. */
  stop(): Promise<void>;
}

/** The entry this app expects from @cumulus/sync-agent. */
export type StartAgent = (opts: {
  stateDir: string;
  /** Directory of the built renderer, served by the agent at / for browsers. */
  uiDir?: string;
}) => Promise<{ port: number; secret: string; stop(): Promise<void> }>;

export class AgentHostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgentHostError";
  }
}

const loadSyncAgent = (): Promise<Record<string, unknown>> => import("@cumulus/sync-agent/index");

export async function startInProcessAgent(
  opts: { stateDir: string; uiDir?: string },
  load: () => Promise<Record<string, unknown>> = loadSyncAgent,
): Promise<AgentHost> {
  const mod = await load();
  const start = mod["startAgent"];
  if (typeof start !== "function") {
    throw new AgentHostError(
      "@cumulus/sync-agent does not export startAgent(): this build cannot run the agent in-process",
    );
  }
  const running = await (start as StartAgent)(opts);
  const endpoint = ZAgentEndpoint.omit({ pid: true }).safeParse(running);
  if (!endpoint.success)
    throw new AgentHostError(`startAgent() returned no usable port and secret: ${endpoint.error.issues[0]?.message}`);
  return {
    kind: "in-process",
    connection: { baseUrl: `http://127.0.0.1:${endpoint.data.port}`, secret: endpoint.data.secret },
    stop: () => running.stop(),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still a live agent.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function attachToRunningAgent(stateDir: string): Promise<AgentHost> {
  const file = path.join(stateDir, "agent.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new AgentHostError(`no running agent: ${file} does not exist (start one with \`cumulus sync DIR\`)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AgentHostError(`${file} is not valid JSON: delete it and restart the agent`);
  }
  const parsed = ZAgentEndpoint.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AgentHostError(`${file} is not an agent endpoint (${issue?.path.join(".")}: ${issue?.message})`);
  }
  if (!alive(parsed.data.pid)) {
    throw new AgentHostError(`the agent that wrote ${file} (pid ${parsed.data.pid}) is no longer running`);
  }
  return {
    kind: "attached",
    connection: { baseUrl: `http://127.0.0.1:${parsed.data.port}`, secret: parsed.data.secret },
    stop: async () => {},
  };
}

/** A running headless agent first; else in-process; both failures in one message. */
export async function startAgentHost(
  opts: { stateDir: string; uiDir?: string },
  load?: () => Promise<Record<string, unknown>>,
): Promise<AgentHost> {
  let attached: unknown;
  try {
    return await attachToRunningAgent(opts.stateDir);
  } catch (err) {
    attached = err;
  }
  try {
    return await startInProcessAgent(opts, load);
  } catch (inProcess) {
    throw new AgentHostError(`${(inProcess as Error).message}; and ${(attached as Error).message}`);
  }
}
