// The window's own origin, cumulus://app. The built renderer is served from out/renderer and
// /api/* is forwarded to the agent's loopback port, so the page and the control API share one
// origin exactly as when the headless agent serves the page to a browser: no CORS exception
// in the agent, no file:// page, and the window works whether or not the agent serves the UI.
// This module only decides where a request goes; index.ts performs it with Electron's net.
import path from "node:path";

export const APP_SCHEME = "cumulus";
export const APP_ORIGIN = `${APP_SCHEME}://app`;

export type AppRoute =
  { kind: "api"; target: string } | { kind: "file"; file: string } | { kind: "unavailable" } | { kind: "not-found" };

export function routeAppRequest(url: string, rendererDir: string, agentBaseUrl: string | null): AppRoute {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { kind: "not-found" };
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== "app") return { kind: "not-found" };
  if (u.pathname === "/api" || u.pathname.startsWith("/api/")) {
    if (!agentBaseUrl) return { kind: "unavailable" };
    return { kind: "api", target: `${agentBaseUrl.replace(/\/+$/, "")}${u.pathname}${u.search}` };
  }
  let rel: string;
  try {
    rel = decodeURIComponent(u.pathname);
  } catch {
    return { kind: "not-found" };
  }
  if (rel === "/" || rel === "") rel = "/index.html";
  const root = path.resolve(rendererDir);
  const file = path.resolve(root, "." + rel);
  if (!file.startsWith(root + path.sep) || rel.includes("\0")) return { kind: "not-found" };
  return { kind: "file", file };
}

/** Request headers worth forwarding to the agent (no cookies, no Origin of the app scheme). */
export function forwardHeaders(headers: Iterable<[string, string]>): Record<string, string> {
  const keep = new Set(["authorization", "content-type", "accept", "last-event-id"]);
  const out: Record<string, string> = {};
  for (const [k, v] of headers) if (keep.has(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json",
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}
