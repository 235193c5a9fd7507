import type { AuthUser } from "@cumulus/control/access/access";
import { lookup } from "@cumulus/control/fs/tree";
import { ctx } from "@/server/context.ts";

/**
 * The namespace path of catch-all route segments (/files/<path>, /api/gateway/files/<path>).
 * Next.js hands segments over percent-decoded on a full request but still encoded on a
 * client-side navigation, so a segment with a `%` is ambiguous ("a%20b" is either the name
 * "a%20b" or "a b"): whichever of the two spellings names a visible entry wins (the raw
 * one first). Anything else falls back to the decoded spelling.
 */
export async function pathFromSegments(user: AuthUser, segments: readonly string[] | undefined): Promise<string> {
  const raw = "/" + (segments ?? []).join("/");
  if (!raw.includes("%")) return raw;
  let decoded: string;
  try {
    decoded = "/" + (segments ?? []).map((s) => decodeURIComponent(s)).join("/");
  } catch {
    return raw;
  }
  if (decoded === raw) return raw;
  try {
    const l = await lookup(ctx().prisma, user, raw);
    if (l.chain.length === l.parts.length + 1) return raw;
  } catch {
    // not a valid path as is
  }
  return decoded;
}
