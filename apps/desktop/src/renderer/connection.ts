// How the page finds its agent. In Electron the preload's window.cumulus says where; in a
// plain browser the headless agent served this page and put its secret in the URL fragment
// (`/#secret=…`), and the API is on the page's own origin. The secret is moved out of the
// address bar into sessionStorage at once, so it is not left in history or screenshots and a
// reload still works.
import type { AgentConnection } from "../shared/agent-client.ts";
import type { CumulusBridge } from "../shared/bridge.ts";
import { secretFromHash } from "./fragment.ts";

declare global {
  interface Window {
    cumulus?: CumulusBridge;
  }
}

const KEY = "cumulus.agent.secret";

export function bridge(): CumulusBridge | null {
  return typeof window !== "undefined" && window.cumulus ? window.cumulus : null;
}

export async function resolveConnection(): Promise<AgentConnection> {
  const b = bridge();
  if (b) {
    const conn = await b.agent().catch((err: Error) => {
      // Electron wraps errors from the main process; the person only needs the reason.
      throw new Error(err.message.replace(/^Error invoking remote method '[^']+': (Error: )?/, ""));
    });
    // Served by the agent itself: talk to the same origin.
    return conn.baseUrl.replace(/\/+$/, "") === window.location.origin ? { ...conn, baseUrl: "" } : conn;
  }
  const fromHash = secretFromHash(window.location.hash);
  if (fromHash) {
    sessionStorage.setItem(KEY, fromHash);
    history.replaceState(null, "", window.location.pathname + window.location.search);
    return { baseUrl: "", secret: fromHash };
  }
  const stored = sessionStorage.getItem(KEY);
  if (stored) return { baseUrl: "", secret: stored };
  throw new Error(
    "This page needs the agent's secret: open the address printed by `cumulus sync --status` (it ends in #secret=…).",
  );
}
