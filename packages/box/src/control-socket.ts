import net from "node:net";
import { z } from "zod";

export const ZBoxRequest = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("status") }),
  z.object({ cmd: z.literal("start-node"), name: z.string().min(1).max(63) }),
  z.object({
    cmd: z.literal("add-node"),
    site: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "a site name is lowercase letters, digits and dashes"),
    /** What the node may hold; default: the box's CUMULUS_NODE_CAPACITY_BYTES, else its disk. */
    capacityBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  }),
]);
export type BoxRequest = z.infer<typeof ZBoxRequest>;

export type BoxResponse = { ok: true; [k: string]: unknown } | { ok: false; error: string };

/** Sends one request to the running box over its unix socket. */
export function sendBoxRequest(socket: string, req: BoxRequest, timeoutMs = 30_000): Promise<BoxResponse> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let buf = "";
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error("the running cluster did not answer in time"));
    }, timeoutMs);
    conn.on("connect", () => conn.write(JSON.stringify(req) + "\n"));
    conn.on("data", (d) => (buf += d.toString("utf8")));
    conn.on("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as BoxResponse);
      } catch {
        reject(new Error("the running cluster sent a malformed answer"));
      }
    });
    conn.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(new Error("the cluster is not running: start it with npm start"));
      } else reject(err);
    });
  });
}
