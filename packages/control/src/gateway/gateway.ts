import { z } from "zod";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { resolveEntry } from "../fs/tree.ts";
import { authorizeShareLink, countLinkDownload, linkTarget } from "../shares/links.ts";
import { fileResponse, zipResponse, type GatewayOptions, type GatewayRequest } from "./respond.ts";

/**
 * Who reads when nobody is signed in: a user id that owns nothing, is in no group and has
 * no grants, so the access rule leaves them exactly the public entries.
 */
export const ANONYMOUS: AuthUser = {
  id: "00000000-0000-0000-0000-000000000000",
  email: "anonymous",
  name: "Anonymous",
  role: "user",
  tokenId: null,
};

export const ZGatewayQuery = z.object({
  version: z.coerce.number().int().positive().optional(),
  /** "1": always a download (attachment); otherwise safe types may open in the browser. */
  download: z.string().optional(),
});

type Common = { site?: string | null; fetch?: GatewayOptions["fetch"]; prefetch?: number };

/**
 * GET/HEAD /api/gateway/files/<path>: a file (Range, ETag…) or a folder as a zip, for a
 * signed-in user or, with `user` null, for anyone when the entry is public.
 */
export async function gatewayForUser(
  ctx: ControlContext,
  req: GatewayRequest,
  user: AuthUser | null,
  path: string,
  query: unknown,
  opts: Common = {},
): Promise<Response> {
  const q = ZGatewayQuery.parse(query);
  const who = user ?? ANONYMOUS;
  const r = await resolveEntry(ctx.prisma, who, path, "read");
  const common: GatewayOptions = {
    sub: user ? user.id : "public",
    disposition: q.download === "1" ? "attachment" : "inline",
    ...opts,
  };
  if (r.entry.type === "folder")
    return zipResponse(ctx, req, r.entry, r.path, { ...common, disposition: "attachment" });
  return fileResponse(ctx, req, r.entry, r.path, q.version, common);
}

export const ZLinkGatewayQuery = z.object({
  /** Inside a folder link: the file or folder below it ("/a/b.txt"); default the link's entry. */
  path: z.string().max(4096).default("/"),
  download: z.string().optional(),
});

/**
 * GET/HEAD /api/gateway/s/<token>: what a share link shares (or, for a folder link,
 * something inside it). Every download that starts at byte 0 counts against the link's
 * limit before a byte is sent; a refused one changes nothing.
 */
export async function gatewayForLink(
  ctx: ControlContext,
  req: GatewayRequest,
  token: string,
  grant: string | null,
  query: unknown,
  meta: { ip?: string | null } & Common = {},
): Promise<Response> {
  const q = ZLinkGatewayQuery.parse(query);
  const open = await authorizeShareLink(ctx, token, grant);
  const target = await linkTarget(ctx, open, q.path);
  const rel = q.path === "" ? "/" : q.path;
  const common: GatewayOptions = {
    sub: `link:${open.link.id}`,
    disposition: q.download === "1" ? "attachment" : "inline",
    ...(meta.site !== undefined ? { site: meta.site } : {}),
    ...(meta.fetch ? { fetch: meta.fetch } : {}),
    ...(meta.prefetch ? { prefetch: meta.prefetch } : {}),
  };
  const label = `${open.entry.name}${rel === "/" ? "" : rel}`;
  if (target.type === "folder") {
    return zipResponse(ctx, req, target, label, {
      ...common,
      disposition: "attachment",
      beforeDownload: async () => {
        await countLinkDownload(ctx, open, { path: rel, kind: "zip" }, { ip: meta.ip ?? null });
      },
    });
  }
  return fileResponse(ctx, req, target, label, undefined, {
    ...common,
    beforeDownload: async () => {
      await countLinkDownload(ctx, open, { path: rel, kind: "file" }, { ip: meta.ip ?? null });
    },
  });
}
