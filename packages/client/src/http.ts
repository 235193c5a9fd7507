import { AppError, ZErrorBody, type ErrorCode } from "@cumulus/protocol/errors";
import type { z } from "zod";

/** The subset of `fetch` the SDK needs; tests and callers may inject their own. */
export type FetchFn = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** What a status means when the body is not a Cumulus error (a proxy, a crashed server). */
function codeForStatus(status: number): ErrorCode {
  if (status === 401) return "UNAUTHENTICATED";
  if (status === 403) return "FORBIDDEN";
  if (status === 404) return "NOT_FOUND";
  if (status === 409) return "CONFLICT";
  if (status === 413) return "PAYLOAD_TOO_LARGE";
  if (status === 429) return "RATE_LIMITED";
  if (status === 502 || status === 503 || status === 504) return "UNAVAILABLE";
  if (status === 507) return "DISK_FULL";
  if (status >= 400 && status < 500) return "BAD_REQUEST";
  return "INTERNAL";
}

/** The first line of a (possibly nested) cause, for one-line error messages. */
export function describeCause(err: unknown): string {
  let e: unknown = err;
  // undici wraps the socket error ("ECONNREFUSED ...") in a generic "fetch failed".
  while (e instanceof Error && e.message === "fetch failed" && e.cause !== undefined) e = e.cause;
  if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
  if (e instanceof Error) {
    if (e.name === "TimeoutError") return "timed out";
    const code = (e as { code?: unknown }).code;
    const msg = (e.message || String(code ?? e.name)).split("\n")[0]!;
    return typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(e).split("\n")[0]!;
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === "AbortError");
}

/** Turns a non-2xx response into an AppError, preferring the server's own `ZErrorBody`. */
export async function errorFromResponse(res: Response, what: string): Promise<AppError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // the body is optional for the error; the status alone still says something
  }
  return errorFromStatus(res.status, res.statusText, text, what);
}

/** `errorFromResponse` for a body already read (node:http responses, see node/http-chunk-io.ts). */
export function errorFromStatus(status: number, statusText: string | undefined, text: string, what: string): AppError {
  if (text) {
    try {
      const body: unknown = JSON.parse(text);
      if (ZErrorBody.safeParse(body).success) return AppError.fromBody(body, status);
    } catch {
      // not JSON: an HTML error page of a proxy or of a server that lacks the route
    }
  }
  const hint = status === 404 ? " (is this a Cumulus server of a matching version?)" : "";
  return new AppError(
    codeForStatus(status),
    `${what}: unexpected HTTP ${status}${statusText ? ` ${statusText}` : ""}${hint}`,
  );
}

/** Parses a JSON response body with a protocol schema; a mismatch is a server bug, not user error. */
export async function parseJson<S extends z.ZodType>(res: Response, schema: S, what: string): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw new AppError("INTERNAL", `${what}: the response is not valid JSON (${describeCause(err)})`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
    throw new AppError(
      "INTERNAL",
      `${what}: unexpected response${where}: ${issue?.message ?? "does not match the protocol"}`,
    );
  }
  return parsed.data;
}

/** Combines the caller's signal with a timeout; either aborts the request. */
export function withTimeout(signal: AbortSignal | undefined, ms: number | undefined): AbortSignal | undefined {
  if (ms === undefined || ms <= 0) return signal;
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/** `new URL(rel, base)` that keeps a path prefix of the base ("http://h/node1" + "chunks/x"). */
export function joinUrl(base: string, rel: string): URL {
  return new URL(rel.replace(/^\/+/, ""), base.endsWith("/") ? base : `${base}/`);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Exponential backoff with full jitter: attempt 0 → up to base, 1 → up to 4×base, ... */
export function backoffMs(attempt: number, baseMs: number, maxMs = 10_000): number {
  const cap = Math.min(maxMs, baseMs * 4 ** attempt);
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}
