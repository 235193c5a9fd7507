/**
 * A readable message from whatever a tRPC call or fetch threw: the server's message for
 * our errors, the first problem for input validation (zod) errors.
 */
export function errorMessage(err: unknown, fallback = "Something went wrong"): string {
  if (!err) return fallback;
  const e = err as { message?: unknown; data?: { zodError?: unknown } | null };
  const msg = typeof e.message === "string" ? e.message : "";
  if (msg.startsWith("[") || msg.startsWith("{")) {
    try {
      const parsed = JSON.parse(msg) as unknown;
      const issues = Array.isArray(parsed) ? parsed : [];
      const first = issues[0] as { message?: string; path?: (string | number)[] } | undefined;
      if (first?.message) return first.message;
    } catch {
      // not JSON: fall through
    }
  }
  if (msg === "Failed to fetch" || msg === "fetch failed")
    return "Cannot reach the server: check your connection and try again";
  return msg || fallback;
}

/** tRPC's error code (UNAUTHORIZED, FORBIDDEN, NOT_FOUND…), if any. */
export function errorCode(err: unknown): string | null {
  const e = err as { data?: { code?: string } | null } | null;
  return e?.data?.code ?? null;
}
