import type { ControlContext } from "../context.ts";
import type { Db } from "../access/access.ts";
import { audit } from "../audit/audit.ts";

/**
 * Sign-in lock-out: after LOCKOUT_MAX_FAILURES wrong passwords for one e-mail within
 * LOCKOUT_WINDOW_MS, that e-mail is locked until the oldest of those failures is
 * LOCKOUT_WINDOW_MS old.
 *
 * Persistence: the failures ARE the audit log's `signin.failed` rows (target = the
 * e-mail, outcome "failed" — wrong password or unknown e-mail, from the web sign-in and
 * from device-token sign-in alike). Every control-plane process reads the same rows, so
 * they agree without another table. A successful sign-in (`signin`), an administrator's
 * password reset (`user.password.reset`) or unlock (`user.unlock`) for that e-mail
 * starts the count again. Refusals while locked are audited with outcome "denied" and
 * do not extend the lock.
 */
export const LOCKOUT_MAX_FAILURES = 5;
export const LOCKOUT_WINDOW_MS = 15 * 60_000;

export const LOCKOUT_RESET_ACTIONS = ["signin", "user.password.reset", "user.unlock"] as const;

export type LockoutState = {
  locked: boolean;
  /** Failures counted (within the window, since the last reset). */
  failures: number;
  /** When the lock ends; null when not locked. */
  until: Date | null;
};

/** Pure: the lock-out state from the times of recent failures. */
export function lockoutState(
  failures: readonly Date[],
  now: Date,
  opts: { max?: number; windowMs?: number; since?: Date | null } = {},
): LockoutState {
  const max = opts.max ?? LOCKOUT_MAX_FAILURES;
  const windowMs = opts.windowMs ?? LOCKOUT_WINDOW_MS;
  const from = Math.max(now.getTime() - windowMs, opts.since ? opts.since.getTime() : -Infinity);
  const recent = failures
    .map((d) => d.getTime())
    .filter((t) => t > from)
    .sort((a, b) => b - a);
  if (recent.length < max) return { locked: false, failures: recent.length, until: null };
  // The lock lasts until the max-th most recent failure leaves the window.
  const until = new Date(recent[max - 1]! + windowMs);
  return { locked: until > now, failures: recent.length, until: until > now ? until : null };
}

/** "Too many attempts: try again in N minutes" (N rounded up, at least 1). */
export function lockoutMessage(state: LockoutState, now = new Date()): string {
  const minutes = Math.max(1, Math.ceil(((state.until?.getTime() ?? now.getTime()) - now.getTime()) / 60_000));
  return `Too many attempts: try again in ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** Reads the failures for `email` from the audit log and computes its state. */
export async function lockoutFor(db: Db, email: string, now = new Date()): Promise<LockoutState> {
  const windowStart = new Date(now.getTime() - LOCKOUT_WINDOW_MS);
  const [reset, failed] = await Promise.all([
    db.auditEvent.findFirst({
      where: { target: email, action: { in: [...LOCKOUT_RESET_ACTIONS] }, outcome: "ok", at: { gt: windowStart } },
      orderBy: { at: "desc" },
      select: { at: true },
    }),
    db.auditEvent.findMany({
      where: { action: "signin.failed", target: email, outcome: "failed", at: { gt: windowStart } },
      select: { at: true },
      orderBy: { at: "desc" },
      take: 100,
    }),
  ]);
  return lockoutState(
    failed.map((f) => f.at),
    now,
    { since: reset?.at ?? null },
  );
}

/**
 * After a failure was audited: when it completed a lock, audit `signin.locked` once
 * (the admin log shows when and until when an account was locked).
 */
export async function noteFailureForLockout(
  ctx: ControlContext,
  email: string,
  meta: { ip?: string | null; userId?: string | null; now?: Date } = {},
): Promise<LockoutState> {
  const now = meta.now ?? new Date();
  const state = await lockoutFor(ctx.prisma, email, now);
  if (state.locked && state.failures === LOCKOUT_MAX_FAILURES) {
    await audit(ctx, {
      action: "signin.locked",
      actor: email,
      actorId: meta.userId ?? null,
      target: email,
      ip: meta.ip ?? null,
      outcome: "denied",
      details: { failures: state.failures, until: state.until?.toISOString() ?? null },
    });
  }
  return state;
}
