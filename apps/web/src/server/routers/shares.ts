import {
  grantShare,
  listGrants,
  revokeShare,
  sharedWithMe,
  suggestPrincipals,
  ZGrantRequest,
  ZGrantsQuery,
  ZPrincipalQuery,
  ZRevokeGrantRequest,
} from "@cumulus/control/shares/grants";
import {
  createShareLink,
  listShareLinks,
  revokeShareLink,
  ZCreateLinkRequest,
  ZLinksQuery,
  ZRevokeLinkRequest,
} from "@cumulus/control/shares/links";
import { protectedProcedure, router } from "../trpc.ts";

/** Sharing: grants to users and groups, "Shared with me", share links. */
export const sharesRouter = router({
  grants: protectedProcedure.input(ZGrantsQuery).query(({ ctx, input }) => listGrants(ctx.control, ctx.user, input)),
  grant: protectedProcedure
    .input(ZGrantRequest)
    .mutation(({ ctx, input }) => grantShare(ctx.control, ctx.user, input, { ip: ctx.ip })),
  revoke: protectedProcedure
    .input(ZRevokeGrantRequest)
    .mutation(({ ctx, input }) => revokeShare(ctx.control, ctx.user, input, { ip: ctx.ip })),
  suggest: protectedProcedure
    .input(ZPrincipalQuery)
    .query(({ ctx, input }) => suggestPrincipals(ctx.control, ctx.user, input)),
  sharedWithMe: protectedProcedure.query(({ ctx }) => sharedWithMe(ctx.control, ctx.user)),
  links: protectedProcedure.input(ZLinksQuery).query(({ ctx, input }) => listShareLinks(ctx.control, ctx.user, input)),
  createLink: protectedProcedure
    .input(ZCreateLinkRequest)
    .mutation(({ ctx, input }) => createShareLink(ctx.control, ctx.user, input, { ip: ctx.ip })),
  revokeLink: protectedProcedure
    .input(ZRevokeLinkRequest)
    .mutation(({ ctx, input }) => revokeShareLink(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
