import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { ControlContext } from "../context.ts";

const SETTING_KEY = "joinTokenHash";

function hash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Sets the cluster's join token to `token` (or a new random one) and returns it. Only
 * its hash is stored: a database dump does not let anyone join a node.
 */
export async function setJoinToken(
  ctx: ControlContext,
  token = randomBytes(24).toString("base64url"),
): Promise<string> {
  await ctx.prisma.clusterSetting.upsert({
    where: { key: SETTING_KEY },
    create: { key: SETTING_KEY, value: hash(token) },
    update: { value: hash(token) },
  });
  return token;
}

export async function checkJoinToken(ctx: ControlContext, token: string): Promise<boolean> {
  const row = await ctx.prisma.clusterSetting.findUnique({ where: { key: SETTING_KEY } });
  if (!row || typeof row.value !== "string") return false;
  const a = Buffer.from(row.value, "hex");
  const b = Buffer.from(hash(token), "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
