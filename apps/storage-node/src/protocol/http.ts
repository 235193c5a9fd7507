import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError, isAppError, type ErrorBody } from "@cumulus/protocol/errors";

/** HTTP codecs of the data API: parsing and writing wire formats, no I/O beyond the socket. */

export interface ParsedUrl {
  path: string;
  query: URLSearchParams | null;
}

/** Cheaper than `new URL()` on the hot path; query parsing only when there is one. */
export function parseRequestUrl(raw: string | undefined): ParsedUrl {
  const url = raw ?? "/";
  const q = url.indexOf("?");
  if (q === -1) return { path: url, query: null };
  return { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

export function bearerToken(req: IncomingMessage, query: URLSearchParams | null, allowQuery: boolean): string | null {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m?.[1] ?? null;
  }
  if (allowQuery) return query?.get("token") ?? null;
  return null;
}

export type RangeRequest = { kind: "none" } | { kind: "range"; start: number; end: number } | { kind: "unsatisfiable" };

/**
 * One `bytes=` range (a-b, a-, -n). Multiple ranges and syntax we do not understand are
 * ignored, which RFC 9110 allows: the client then gets the whole chunk with a 200.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: "none" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return { kind: "none" };
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return { kind: "none" };
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  let end = b === "" ? size - 1 : Number(b);
  if (b !== "" && end < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  if (end >= size) end = size - 1;
  return { kind: "range", start, end };
}

export function parseContentLength(header: string | undefined): number | null {
  if (header === undefined || !/^\d{1,16}$/.test(header)) return null;
  return Number(header);
}

/** Anything that is not an AppError is a bug or an I/O failure: no internals leak out. */
export function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return new AppError("INTERNAL", "internal error in the storage node");
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function errorBody(err: AppError): ErrorBody {
  return err.toBody();
}

/**
 * `status` overrides the code's status only for HTTP-specific outcomes the shared error
 * codes cannot express (405, 416).
 */
export function sendError(
  res: ServerResponse,
  err: AppError,
  opts: { status?: number; headers?: Record<string, string>; closeConnection?: boolean } = {},
): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const headers: Record<string, string> = { ...opts.headers };
  // An unread request body would otherwise be drained (up to 4 MiB) to keep the
  // connection alive; closing is cheaper and stops a refused upload immediately.
  if (opts.closeConnection) headers.connection = "close";
  sendJson(res, opts.status ?? err.httpStatus, errorBody(err), headers);
}
