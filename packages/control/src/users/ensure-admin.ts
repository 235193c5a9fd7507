import { randomBytes, randomUUID } from "node:crypto";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import { hashPassword, MIN_PASSWORD_LENGTH } from "../auth/passwords.ts";
import { audit } from "../audit/audit.ts";

export type EnsureAdminResult = { email: string; created: boolean; password: string | null };

/**
 * Creates the first admin account when the cluster has none. Returns the password only
 * when it was just generated or given; on later starts the account is left untouched.
 */
export async function ensureAdmin(
  ctx: ControlContext,
  opts: { email: string; password?: string | undefined },
): Promise<EnsureAdminResult> {
  const existing = await ctx.prisma.user.findFirst({ where: { role: "admin" }, orderBy: { createdAt: "asc" } });
  if (existing) return { email: existing.email, created: false, password: null };

  const password = opts.password ?? randomBytes(12).toString("base64url");
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AppError("BAD_REQUEST", `CUMULUS_ADMIN_PASSWORD must be at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  const email = opts.email.trim().toLowerCase();
  const passwordHash = await hashPassword(password);
  await ctx.prisma.$transaction(async (tx) => {
    const user = await tx.user.create({ data: { email, name: "Administrator", role: "admin", emailVerified: true } });
    await tx.account.create({
      data: { id: randomUUID(), accountId: user.id, providerId: "credential", userId: user.id, password: passwordHash },
    });
  });
  await audit(ctx, {
    action: "user.create",
    actor: "system",
    target: email,
    details: { role: "admin", reason: "first start" },
  });
  return { email, created: true, password };
}
