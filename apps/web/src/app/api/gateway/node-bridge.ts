import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The download gateway is served by Pages Router API routes (src/pages/api/gateway), not
 * App Router route handlers: Next.js drops Content-Length from a route handler's streamed
 * Response (it always answers chunked), and a download needs its length (progress bars,
 * resumable downloads, HEAD). These helpers turn the Node request into the Web Request
 * the shared code expects and write a Web Response to the Node response with back-pressure.
 */

export function webRequest(req: IncomingMessage): Request {
  const proto = (req.headers["x-forwarded-proto"] as string | undefined)?.split(",")[0]?.trim() || "http";
  const host = req.headers["x-forwarded-host"] ?? req.headers.host ?? "localhost";
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else headers.set(k, v);
  }
  return new Request(`${proto}://${host}${req.url ?? "/"}`, { method: "GET", headers });
}

/** Writes `response` to `res`, stopping the body's producer when the client goes away. */
export async function sendWebResponse(res: ServerResponse, response: Response, method: string): Promise<void> {
  res.statusCode = response.status;
  for (const cookie of response.headers.getSetCookie()) res.appendHeader("set-cookie", cookie);
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  if (!response.body || method === "HEAD") {
    await response.body?.cancel().catch(() => undefined);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  const onClose = () => {
    gone = true;
    void reader.cancel().catch(() => undefined);
  };
  res.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (gone) return;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.once("drain", go);
          res.once("close", go);
        });
      }
    }
    res.end();
  } catch (err) {
    // Headers (with the full Content-Length) are out: cutting the connection is the only
    // way left to tell the client the body is incomplete.
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  } finally {
    res.off("close", onClose);
  }
}

/** Reads a small urlencoded form body (the link password form). */
export async function readForm(req: IncomingMessage, maxBytes = 16 * 1024): Promise<URLSearchParams> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw new Error("form too large");
    parts.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(parts).toString("utf8"));
}
