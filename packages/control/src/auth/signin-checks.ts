import type { ControlContext } from "../context.ts";
import { audit } from "../audit/audit.ts";
import { decideIp } from "../ip-rules/ip-rules.ts";
import { lockoutFor, type LockoutState } from "../users/lockout.ts";

/**
 * The checks both sign-in paths (browser, better-auth.ts; device token, device-tokens.ts)
 * run before looking at the password. Each audits its own refusal as `signin.failed`;
 * the caller throws the error its protocol answers with.
 */

export type SigninVia = "web" | "device-token";

/** The lock-out of `email` if it is locked (the refusal audited), else null. */
export async function lockedOut(
  ctx: ControlContext,
  email: string,
  ip: string | null,
  via: SigninVia,
  now?: Date,
): Promise<LockoutState | null> {
  const lock = await lockoutFor(ctx.prisma, email, now);
  if (!lock.locked) return null;
  await audit(ctx, {
    action: "signin.failed",
    actor: email,
    target: email,
    ip,
    outcome: "denied",
    details: { reason: "locked out", until: lock.until?.toISOString() ?? null, via },
  });
  return lock;
}

/** Whether the IP rules let `ip` sign in as `email` (a refusal is audited). */
export async function ipAllowed(
  ctx: ControlContext,
  email: string,
  userId: string | null,
  ip: string | null,
  via: SigninVia,
): Promise<boolean> {
  const decision = await decideIp(ctx.prisma, userId, ip);
  if (decision.allowed) return true;
  await audit(ctx, {
    action: "signin.failed",
    actor: email,
    actorId: userId,
    target: email,
    ip,
    outcome: "denied",
    details: { reason: "ip denied", rule: decision.reason, via },
  });
  return false;
}
