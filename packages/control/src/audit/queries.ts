import { z } from "zod";
import type { Prisma } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";

/**
 * The audit log view: newest first, filtered by action (exact, or a prefix ending in
 * "." / "*": "user." matches user.create, user.disable…), actor (e-mail substring),
 * target (substring), outcome and time range; keyset-paginated on the id.
 */
export const ZAuditQuery = z.object({
  action: z.string().trim().max(100).optional(),
  actor: z.string().trim().max(320).optional(),
  target: z.string().trim().max(500).optional(),
  outcome: z.enum(["ok", "denied", "failed"]).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** The `nextCursor` of the previous page. */
  cursor: z.string().regex(/^\d+$/).optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export type AuditQuery = z.input<typeof ZAuditQuery>;

export type AuditRow = {
  id: string;
  at: string;
  action: string;
  actor: string | null;
  actorId: string | null;
  target: string | null;
  ip: string | null;
  outcome: string;
  details: unknown;
};

export async function listAuditEvents(
  ctx: ControlContext,
  input: unknown,
): Promise<{ events: AuditRow[]; nextCursor: string | null }> {
  const q = ZAuditQuery.parse(input ?? {});
  const where: Prisma.AuditEventWhereInput = {};
  if (q.action) {
    const a = q.action.replace(/\*$/, "");
    where.action = a.endsWith(".") || q.action.endsWith("*") ? { startsWith: a } : a;
  }
  if (q.actor) where.actor = { contains: q.actor, mode: "insensitive" };
  if (q.target) where.target = { contains: q.target, mode: "insensitive" };
  if (q.outcome) where.outcome = q.outcome;
  if (q.from || q.to)
    where.at = { ...(q.from ? { gte: new Date(q.from) } : {}), ...(q.to ? { lte: new Date(q.to) } : {}) };
  if (q.cursor) where.id = { lt: BigInt(q.cursor) };
  const rows = await ctx.prisma.auditEvent.findMany({ where, orderBy: { id: "desc" }, take: q.limit + 1 });
  const page = rows.slice(0, q.limit);
  return {
    events: page.map((e) => ({
      id: e.id.toString(),
      at: e.at.toISOString(),
      action: e.action,
      actor: e.actor,
      actorId: e.actorId,
      target: e.target,
      ip: e.ip,
      outcome: e.outcome,
      details: e.details,
    })),
    nextCursor: rows.length > q.limit ? page[page.length - 1]!.id.toString() : null,
  };
}

/** Every action that occurs in the log, for the filter's list. */
export async function auditActions(ctx: ControlContext): Promise<string[]> {
  const rows = await ctx.prisma.auditEvent.groupBy({ by: ["action"], orderBy: { action: "asc" } });
  return rows.map((r) => r.action);
}
