import type { ControlContext } from "../context.ts";

export type AuditInput = {
  action: string;
  actor?: string | null;
  actorId?: string | null;
  target?: string | null;
  ip?: string | null;
  outcome?: "ok" | "denied" | "failed";
  details?: Record<string, unknown>;
};

/** Appends to the audit log. An audit failure is logged, never hides the action's result. */
export async function audit(ctx: ControlContext, e: AuditInput): Promise<void> {
  try {
    await ctx.prisma.auditEvent.create({
      data: {
        action: e.action,
        actor: e.actor ?? null,
        actorId: e.actorId ?? null,
        target: e.target ?? null,
        ip: e.ip ?? null,
        outcome: e.outcome ?? "ok",
        details: (e.details ?? {}) as object,
      },
    });
  } catch (err) {
    ctx.log.error({ err, action: e.action }, "could not write audit event");
  }
}
