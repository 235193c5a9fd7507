// The one client of the sync agent's local control API, shared by the renderer (browser or
// Electron window) and the main process (tray, notifications). It uses only fetch and
// streams, no Node or DOM-only APIs, so both sides run the same code. Every response is
// validated against the contract in @cumulus/protocol/agent; every input is validated before
// anything is sent, so bad input fails here with a clear message and changes nothing.
import {
  ZActivityItem,
  ZAgentError,
  ZAgentSettings,
  ZAgentSettingsInput,
  ZAgentStatus,
  ZSelectiveInput,
  ZSelectiveNode,
  ZSignIn,
  type ActivityItem,
  type AgentError,
  type AgentSettings,
  type AgentSettingsInput,
  type AgentStatus,
  type SelectiveNode,
  type SignIn,
} from "@cumulus/protocol/agent";
import { z } from "zod";

/** Where the agent listens and the secret it wants. baseUrl "" means the page's own origin. */
export type AgentConnection = { baseUrl: string; secret: string };

export class AgentApiError extends Error {
  readonly code: string;
  /** HTTP status, or 0 when the agent could not be reached or answered nonsense. */
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = "AgentApiError";
    this.code = code;
    this.status = status;
  }
}

const ZErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const ZActivityList = z.object({ items: z.array(ZActivityItem) });
const ZErrorList = z.object({ items: z.array(ZAgentError) });
const ZTree = z.object({ path: z.string(), children: z.array(ZSelectiveNode) });

export type SelectiveTree = { path: string; children: SelectiveNode[] };

export type SubscribeOptions = {
  /** Interval of the /api/status fallback when the event stream is unavailable. */
  pollMs?: number;
  /** Polls to make before trying the event stream again. */
  pollsBetweenStreamRetries?: number;
  onConnection?: (state: "live" | "polling" | "unreachable") => void;
};

export type AgentClient = ReturnType<typeof createAgentClient>;

function invalid(what: string, err: z.ZodError): AgentApiError {
  const first = err.issues[0];
  const where = first && first.path.length ? `${first.path.join(".")}: ` : "";
  return new AgentApiError("INVALID_INPUT", `${what}: ${where}${first?.message ?? "invalid"}`, 0);
}

export function createAgentClient(conn: AgentConnection) {
  const base = conn.baseUrl.replace(/\/+$/, "");
  const headers = (json: boolean): Record<string, string> => ({
    authorization: `Bearer ${conn.secret}`,
    ...(json ? { "content-type": "application/json" } : {}),
  });

  async function call<T>(method: string, route: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${base}${route}`, {
        method,
        headers: headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new AgentApiError(
        "UNREACHABLE",
        `the sync agent at ${base || "this address"} does not answer (${(err as Error).message}): is it running?`,
        0,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const parsed = ZErrorBody.safeParse(json);
      if (parsed.success) throw new AgentApiError(parsed.data.error.code, parsed.data.error.message, res.status);
      throw new AgentApiError("HTTP_" + res.status, `${method} ${route} failed with HTTP ${res.status}`, res.status);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AgentApiError(
        "BAD_RESPONSE",
        `${method} ${route}: the agent's answer does not match the control API (${parsed.error.issues[0]?.message}); are the app and agent the same version?`,
        res.status,
      );
    }
    return parsed.data;
  }

  const client = {
    status: () => call("GET", "/api/status", ZAgentStatus),
    activity: async (limit = 50): Promise<ActivityItem[]> => {
      if (!Number.isInteger(limit) || limit < 1)
        throw new AgentApiError("INVALID_INPUT", `limit must be a positive integer, got ${limit}`, 0);
      return (await call("GET", `/api/activity?limit=${limit}`, ZActivityList)).items;
    },
    errors: async (): Promise<AgentError[]> => (await call("GET", "/api/errors", ZErrorList)).items,
    pause: () => call("POST", "/api/pause", ZAgentStatus),
    resume: () => call("POST", "/api/resume", ZAgentStatus),
    tree: (path = "/"): Promise<SelectiveTree> => {
      if (!path.startsWith("/"))
        return Promise.reject(new AgentApiError("INVALID_INPUT", `tree path must start with "/", got "${path}"`, 0));
      return call("GET", `/api/tree?path=${encodeURIComponent(path)}`, ZTree);
    },
    setSelective: (excluded: string[]): Promise<AgentSettings> => {
      const input = ZSelectiveInput.safeParse({ excluded });
      if (!input.success) return Promise.reject(invalid("selective sync", input.error));
      return call("PUT", "/api/selective", ZAgentSettings, input.data);
    },
    settings: () => call("GET", "/api/settings", ZAgentSettings),
    updateSettings: (patch: AgentSettingsInput): Promise<AgentSettings> => {
      const input = ZAgentSettingsInput.strict().safeParse(patch);
      if (!input.success) return Promise.reject(invalid("settings", input.error));
      return call("PUT", "/api/settings", ZAgentSettings, input.data);
    },
    signIn: (signIn: SignIn): Promise<AgentStatus> => {
      const input = ZSignIn.safeParse(signIn);
      if (!input.success) return Promise.reject(invalid("sign-in", input.error));
      return call("POST", "/api/sign-in", ZAgentStatus, input.data);
    },
    signOut: () => call("POST", "/api/sign-out", ZAgentStatus),

    /**
     * Follow the status live: the event stream first (fetch, not EventSource, because
     * EventSource cannot send the Authorization header), /api/status polling while the stream
     * is unavailable. Returns a function that stops everything.
     */
    subscribe(onStatus: (s: AgentStatus) => void, opts: SubscribeOptions = {}): () => void {
      const pollMs = opts.pollMs ?? 2000;
      const pollsBetween = opts.pollsBetweenStreamRetries ?? 5;
      const abort = new AbortController();
      let stopped = false;
      const sleep = (ms: number) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          abort.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
        });

      let live = false;
      const stream = async (): Promise<void> => {
        const res = await fetch(`${base}/api/events`, {
          headers: { ...headers(false), accept: "text/event-stream" },
          signal: abort.signal,
        });
        if (!res.ok || !res.body) throw new Error(`event stream answered HTTP ${res.status}`);
        live = true;
        opts.onConnection?.("live");
        for await (const data of sseData(res.body)) {
          const parsed = ZAgentStatus.safeParse(safeJson(data));
          if (parsed.success) onStatus(parsed.data);
        }
      };

      void (async () => {
        while (!stopped) {
          live = false;
          try {
            await stream();
          } catch {
            // Falls through to polling; the stream is retried after a few polls.
          }
          // A stream that worked and then ended (agent restart) is retried after one poll;
          // one that never worked, after several.
          const polls = live ? 1 : pollsBetween;
          for (let i = 0; i < polls && !stopped; i++) {
            try {
              onStatus(await client.status());
              opts.onConnection?.("polling");
            } catch (err) {
              // An agent that answers with an error (wrong secret) is reachable; say so only
              // when nothing answers.
              if (err instanceof AgentApiError && err.status === 0) opts.onConnection?.("unreachable");
            }
            await sleep(pollMs);
          }
        }
      })();

      return () => {
        stopped = true;
        abort.abort();
      };
    },
  };
  return client;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The `data` payloads of a text/event-stream body (multi-line data joined with "\n"). */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer[nl] === "\r" && buffer[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line[5] === " " ? 6 : 5));
        }
        // Comments (": keep-alive"), event names and ids carry nothing the UI needs.
      }
    }
  } finally {
    reader.releaseLock();
  }
}
