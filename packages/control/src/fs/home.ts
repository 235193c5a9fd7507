import { AppError } from "@cumulus/protocol/errors";
import { nameProblem } from "@cumulus/protocol/paths";
import type { z } from "zod";
import type { ZWhoAmI } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { recordChange } from "../changes/record.ts";
import { ensureRoot, isUniqueViolation, TX_OPTIONS } from "./tree.ts";

export const HOMES_FOLDER = "home";

/** A valid entry name from the local part of an e-mail address ("Jo.Doe+x@corp" → "Jo.Doe+x"). */
export function homeNameFor(email: string, fallback: string): string {
  let name = (email.split("@")[0] ?? "").normalize("NFC");
  // eslint-disable-next-line no-control-regex
  name = name.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, "_").slice(0, 64);
  name = name.replace(/[ .]+$/, "");
  if (name !== "" && nameProblem(name)) name = `${name}_`;
  return name === "" || nameProblem(name) ? fallback : name;
}

async function ensureHomesFolder(ctx: ControlContext): Promise<string> {
  const rootId = await ensureRoot(ctx.prisma);
  const find = () =>
    ctx.prisma.entry.findFirst({
      where: { parentId: rootId, liveName: HOMES_FOLDER },
      select: { id: true, type: true },
    });
  let homes = await find();
  if (!homes) {
    await ctx.prisma.$transaction(async (tx) => {
      const { count } = await tx.entry.createMany({
        data: [{ parentId: rootId, name: HOMES_FOLDER, liveName: HOMES_FOLDER, type: "folder", ownerId: null }],
        skipDuplicates: true,
      });
      if (count === 1) {
        const row = await tx.entry.findFirstOrThrow({
          where: { parentId: rootId, liveName: HOMES_FOLDER },
          select: { id: true },
        });
        await recordChange(tx, {
          kind: "create",
          entryId: row.id,
          parentId: rootId,
          name: HOMES_FOLDER,
          type: "folder",
          actorId: null,
        });
      }
    }, TX_OPTIONS);
    homes = await find();
  }
  if (!homes || homes.type !== "folder") {
    throw new AppError(
      "CONFLICT",
      `/${HOMES_FOLDER} is not a folder: an administrator must move it away so home folders can be created`,
    );
  }
  return homes.id;
}

/**
 * The user's home folder, created on first use: the oldest live folder the user owns
 * directly under /home (so a renamed home stays theirs), else a new one named after
 * the e-mail address, with a numeric suffix when another user already has that name.
 */
export async function ensureHome(ctx: ControlContext, user: AuthUser): Promise<string> {
  const homesId = await ensureHomesFolder(ctx);
  const mine = () =>
    ctx.prisma.entry.findFirst({
      where: { parentId: homesId, ownerId: user.id, type: "folder", liveName: { not: null } },
      orderBy: { createdAt: "asc" },
      select: { name: true },
    });
  const found = await mine();
  if (found) return `/${HOMES_FOLDER}/${found.name}`;

  const base = homeNameFor(user.email, user.id);
  for (let attempt = 1; attempt <= 50; attempt++) {
    const name = attempt === 1 ? base : `${base}-${attempt}`;
    try {
      const created = await ctx.prisma.$transaction(async (tx) => {
        const { count } = await tx.entry.createMany({
          data: [{ parentId: homesId, name, liveName: name, type: "folder", ownerId: user.id }],
          skipDuplicates: true,
        });
        if (count === 0) return false;
        const row = await tx.entry.findFirstOrThrow({
          where: { parentId: homesId, liveName: name },
          select: { id: true },
        });
        await recordChange(tx, {
          kind: "create",
          entryId: row.id,
          parentId: homesId,
          name,
          type: "folder",
          actorId: user.id,
        });
        return true;
      }, TX_OPTIONS);
      if (created) return `/${HOMES_FOLDER}/${name}`;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    // The name is taken: by this user's concurrent first request (use it) or by someone else.
    const raced = await mine();
    if (raced) return `/${HOMES_FOLDER}/${raced.name}`;
  }
  throw new AppError("CONFLICT", `could not find a free home folder name for ${user.email} under /${HOMES_FOLDER}`);
}

/** GET /api/v1/auth/whoami */
export async function whoami(ctx: ControlContext, user: AuthUser): Promise<z.infer<typeof ZWhoAmI>> {
  return { id: user.id, email: user.email, role: user.role, home: await ensureHome(ctx, user) };
}
