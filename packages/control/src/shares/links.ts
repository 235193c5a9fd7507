import { createHash, randomBytes } from "node:crypto";
import { importJWK, jwtVerify, SignJWT, type CryptoKey } from "jose";
import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import { parsePath } from "@cumulus/protocol/paths";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevel, type AuthUser, type Db } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { hashPassword, verifyPassword } from "../auth/passwords.ts";
import { auditInTx } from "../changes/record.ts";
import { getSigningKey } from "../keys/signing-keys.ts";
import { ENTRY_INCLUDE, joinPath, pathOf, resolveEntry, walkPath, TX_OPTIONS, type EntryRow } from "../fs/tree.ts";

/**
 * Share links: anyone with the URL `/s/<token>` may read the entry (a folder: everything
 * in it), within the link's optional password, expiry and download limit, until it is
 * revoked. The token is random and only its SHA-256 is stored, so it is shown once.
 */

export const LINK_TOKEN_PREFIX = "csl_";
const TOKEN_SHAPE = /^csl_[A-Za-z0-9_-]{43}$/;
/** How long a correct password keeps a browser unlocked. */
export const LINK_GRANT_TTL_SECONDS = 12 * 60 * 60;
const GRANT_AUDIENCE = "cumulus-link";

export function hashLinkToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function isLinkTokenShape(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export const ZCreateLinkRequest = z.object({
  path: z.string().min(1).max(4096),
  password: z.string().min(1).max(1024).nullable().optional(),
  /** ISO date-time; null: never expires. */
  expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
  maxDownloads: z.number().int().min(1).max(1_000_000).nullable().optional(),
});
export const ZLinksQuery = z.object({ path: z.string().min(1).max(4096) });
export const ZRevokeLinkRequest = z.object({ id: z.uuid() });

export type LinkState = "ok" | "expired" | "revoked" | "exhausted" | "missing";

export type LinkSummary = {
  id: string;
  createdAt: string;
  createdBy: string | null;
  hasPassword: boolean;
  expiresAt: string | null;
  maxDownloads: number | null;
  downloadCount: number;
  revokedAt: string | null;
  state: LinkState;
};

type LinkRow = {
  id: string;
  entryId: string;
  createdById: string;
  passwordHash: string | null;
  expiresAt: Date | null;
  maxDownloads: number | null;
  downloadCount: number;
  revokedAt: Date | null;
  createdAt: Date;
};

function stateOf(l: LinkRow, now: Date, entryLive = true): LinkState {
  if (l.revokedAt) return "revoked";
  if (!entryLive) return "missing";
  if (l.expiresAt && l.expiresAt <= now) return "expired";
  if (l.maxDownloads !== null && l.downloadCount >= l.maxDownloads) return "exhausted";
  return "ok";
}

function summary(l: LinkRow & { createdBy?: { email: string } | null }, now: Date): LinkSummary {
  return {
    id: l.id,
    createdAt: l.createdAt.toISOString(),
    createdBy: l.createdBy?.email ?? null,
    hasPassword: l.passwordHash !== null,
    expiresAt: l.expiresAt?.toISOString() ?? null,
    maxDownloads: l.maxDownloads,
    downloadCount: l.downloadCount,
    revokedAt: l.revokedAt?.toISOString() ?? null,
    state: stateOf(l, now),
  };
}

/** Creates a link to an entry the caller may manage. The token is returned only here. */
export async function createShareLink(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<{ token: string; url: string; link: LinkSummary }> {
  const req = ZCreateLinkRequest.parse(input);
  const now = meta.now ?? new Date();
  const r = await resolveEntry(ctx.prisma, user, req.path, "manage");
  const expiresAt = req.expiresAt ? new Date(req.expiresAt) : null;
  if (expiresAt && expiresAt <= now) throw new AppError("BAD_REQUEST", "the expiry date must be in the future");
  const passwordHash = req.password ? await hashPassword(req.password) : null;
  const token = LINK_TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const link = await ctx.prisma.$transaction(async (tx) => {
    const created = await tx.shareLink.create({
      data: {
        entryId: r.entry.id,
        createdById: user.id,
        tokenHash: hashLinkToken(token),
        passwordHash,
        expiresAt,
        maxDownloads: req.maxDownloads ?? null,
      },
      include: { createdBy: { select: { email: true } } },
    });
    await auditInTx(tx, {
      action: "link.create",
      actor: user,
      target: r.path,
      ip: meta.ip ?? null,
      details: {
        linkId: created.id,
        entryId: r.entry.id,
        password: passwordHash !== null,
        expiresAt: expiresAt?.toISOString() ?? null,
        maxDownloads: created.maxDownloads,
      },
    });
    return created;
  }, TX_OPTIONS);
  return { token, url: `/s/${token}`, link: summary(link, now) };
}

/** The links of an entry (needs manage on it), newest first; tokens are not recoverable. */
export async function listShareLinks(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  now = new Date(),
): Promise<{ path: string; links: LinkSummary[] }> {
  const q = ZLinksQuery.parse(input);
  const r = await resolveEntry(ctx.prisma, user, q.path, "manage");
  const rows = await ctx.prisma.shareLink.findMany({
    where: { entryId: r.entry.id },
    include: { createdBy: { select: { email: true } } },
    orderBy: { createdAt: "desc" },
  });
  return { path: r.path, links: rows.map((l) => summary(l, now)) };
}

/** Revokes a link; needs manage on its entry. Revoking twice is harmless. */
export async function revokeShareLink(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<LinkSummary> {
  const req = ZRevokeLinkRequest.parse(input);
  const now = meta.now ?? new Date();
  const row = await ctx.prisma.shareLink.findUnique({ where: { id: req.id } });
  const notFound = new AppError("NOT_FOUND", `no such share link: ${req.id}`);
  if (!row) throw notFound;
  // By id, not by path: a trashed entry's links can be revoked too, by whoever may manage where it was.
  if ((await permissionLevel(ctx.prisma, user, row.entryId)) < LEVEL.manage) throw notFound;
  const path = await pathOf(ctx.prisma, row.entryId);
  const updated = await ctx.prisma.$transaction(async (tx) => {
    const u = await tx.shareLink.update({
      where: { id: row.id },
      data: { revokedAt: row.revokedAt ?? now },
      include: { createdBy: { select: { email: true } } },
    });
    if (!row.revokedAt) {
      await auditInTx(tx, {
        action: "link.revoke",
        actor: user,
        target: path,
        ip: meta.ip ?? null,
        details: { linkId: row.id, entryId: row.entryId },
      });
    }
    return u;
  }, TX_OPTIONS);
  return summary(updated, now);
}

// --- the public side -------------------------------------------------------------------

export type OpenLink = {
  link: LinkRow;
  state: LinkState;
  needsPassword: boolean;
  entry: EntryRow;
};

async function isLive(db: Db, id: string): Promise<boolean> {
  const rows = await db.$queryRaw<{ dead: number }[]>`
    WITH RECURSIVE up(id, "parentId", "liveName") AS (
      SELECT e.id, e."parentId", e."liveName" FROM "Entry" e WHERE e.id = ${id}::uuid
      UNION ALL
      SELECT p.id, p."parentId", p."liveName" FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT count(*) FILTER (WHERE "liveName" IS NULL)::int AS dead FROM up`;
  return (rows[0]?.dead ?? 1) === 0;
}

function unknownLink(): AppError {
  return new AppError("NOT_FOUND", "this link does not exist: check that you copied all of it");
}

/** Looks a token up, whatever its state (the public page explains each state). */
export async function openShareLink(ctx: ControlContext, token: string, now = new Date()): Promise<OpenLink> {
  if (!isLinkTokenShape(token)) throw unknownLink();
  const link = await ctx.prisma.shareLink.findUnique({
    where: { tokenHash: hashLinkToken(token) },
    include: { entry: { include: ENTRY_INCLUDE } },
  });
  if (!link) throw unknownLink();
  const live = await isLive(ctx.prisma, link.entryId);
  const { entry, ...row } = link;
  return { link: row, state: stateOf(row, now, live), needsPassword: row.passwordHash !== null, entry };
}

export function linkStateError(state: Exclude<LinkState, "ok">): AppError {
  switch (state) {
    case "expired":
      return new AppError("FORBIDDEN", "this link has expired: ask whoever sent it for a new one");
    case "revoked":
      return new AppError("FORBIDDEN", "this link was revoked by its owner");
    case "exhausted":
      return new AppError("FORBIDDEN", "this link has reached its download limit: ask whoever sent it for a new one");
    case "missing":
      return new AppError("NOT_FOUND", "what this link shared was deleted or moved to the trash");
  }
}

// Failed password attempts per link, in memory (like the sign-in throttle).
export const LINK_MAX_FAILURES = 10;
export const LINK_FAILURE_WINDOW_MS = 5 * 60 * 1000;
const failures = new Map<string, number[]>();

function recentFailures(key: string, now: number): number[] {
  const list = (failures.get(key) ?? []).filter((t) => now - t < LINK_FAILURE_WINDOW_MS);
  if (list.length === 0) failures.delete(key);
  else failures.set(key, list);
  return list;
}

export function resetLinkThrottle(): void {
  failures.clear();
}

let grantKey: { kid: string; key: Promise<CryptoKey> } | null = null;

async function verifyKey(ctx: ControlContext): Promise<CryptoKey> {
  const k = await getSigningKey(ctx);
  if (!grantKey || grantKey.kid !== k.kid) {
    grantKey = { kid: k.kid, key: importJWK(k.publicJwk, "EdDSA") as Promise<CryptoKey> };
  }
  return grantKey.key;
}

/**
 * Checks a link's password; on success returns a grant (a JWT signed with the control
 * plane's key, naming the link) that the browser keeps in a cookie for LINK_GRANT_TTL_SECONDS.
 */
export async function unlockShareLink(
  ctx: ControlContext,
  token: string,
  password: string,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<{ grant: string; maxAgeSeconds: number; linkId: string }> {
  const now = meta.now ?? new Date();
  const open = await openShareLink(ctx, token, now);
  if (open.state !== "ok") throw linkStateError(open.state);
  const key = `${open.link.id}\u0000${meta.ip ?? "?"}`;
  if (recentFailures(key, now.getTime()).length >= LINK_MAX_FAILURES) {
    await audit(ctx, {
      action: "link.unlock",
      target: open.link.id,
      ip: meta.ip ?? null,
      outcome: "denied",
      details: { reason: "rate-limited" },
    });
    throw new AppError(
      "RATE_LIMITED",
      `too many wrong passwords for this link: wait ${Math.round(LINK_FAILURE_WINDOW_MS / 60_000)} minutes`,
    );
  }
  const ok = open.link.passwordHash === null || (await verifyPassword(open.link.passwordHash, password));
  if (!ok) {
    const list = recentFailures(key, now.getTime());
    list.push(now.getTime());
    failures.set(key, list);
    await audit(ctx, {
      action: "link.unlock",
      target: open.link.id,
      ip: meta.ip ?? null,
      outcome: "failed",
      details: { reason: "wrong password" },
    });
    throw new AppError("UNAUTHENTICATED", "wrong password for this link");
  }
  const signing = await getSigningKey(ctx);
  const iat = Math.floor(now.getTime() / 1000);
  const grant = await new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", kid: signing.kid, typ: "JWT" })
    .setIssuer("cumulus-control")
    .setAudience(GRANT_AUDIENCE)
    .setSubject(open.link.id)
    .setIssuedAt(iat)
    .setExpirationTime(iat + LINK_GRANT_TTL_SECONDS)
    .sign(signing.privateKey);
  return { grant, maxAgeSeconds: LINK_GRANT_TTL_SECONDS, linkId: open.link.id };
}

async function grantIsValid(ctx: ControlContext, grant: string | null, linkId: string, now: Date): Promise<boolean> {
  if (!grant) return false;
  try {
    const { payload } = await jwtVerify(grant, await verifyKey(ctx), {
      issuer: "cumulus-control",
      audience: GRANT_AUDIENCE,
      subject: linkId,
      currentDate: now,
    });
    return payload.sub === linkId;
  } catch {
    return false;
  }
}

/**
 * A link that may be used right now: usable state and, when it has a password, a valid
 * grant from `unlockShareLink`. Anything else is refused with the reason.
 */
export async function authorizeShareLink(
  ctx: ControlContext,
  token: string,
  grant: string | null,
  now = new Date(),
): Promise<OpenLink> {
  const open = await openShareLink(ctx, token, now);
  if (open.state !== "ok") throw linkStateError(open.state);
  if (open.needsPassword && !(await grantIsValid(ctx, grant, open.link.id, now))) {
    throw new AppError("UNAUTHENTICATED", "this link is protected by a password: enter it first");
  }
  return open;
}

/** Whether a grant cookie unlocks this link (for the public page). */
export function linkGrantValid(ctx: ControlContext, grant: string | null, linkId: string, now = new Date()) {
  return grantIsValid(ctx, grant, linkId, now);
}

/**
 * The entry at `subPath` ("/" or "/a/b") inside a folder link: walked from the link's
 * entry by live names, so nothing outside what was shared can be reached.
 */
export async function linkTarget(ctx: ControlContext, open: OpenLink, subPath: string): Promise<EntryRow> {
  const parts = parsePath(subPath || "/");
  if (parts.length === 0) return open.entry;
  if (open.entry.type !== "folder") throw new AppError("NOT_FOUND", "this link shares a single file");
  const ids = await walkPath(ctx.prisma, open.entry.id, parts);
  if (ids.length < parts.length + 1) throw new AppError("NOT_FOUND", `no such file or folder in this link: ${subPath}`);
  return ctx.prisma.entry.findUniqueOrThrow({ where: { id: ids[ids.length - 1]! }, include: ENTRY_INCLUDE });
}

export type LinkListing = {
  path: string;
  entries: { name: string; path: string; type: "folder" | "file"; size: number; modifiedAt: string }[];
};

/** The live children of a folder inside a link, folders first. */
export async function listLinkFolder(ctx: ControlContext, open: OpenLink, subPath: string): Promise<LinkListing> {
  const target = await linkTarget(ctx, open, subPath);
  const rel = "/" + parsePath(subPath || "/").join("/");
  if (target.type !== "folder") throw new AppError("BAD_REQUEST", `${rel} is a file, not a folder`);
  const children = await ctx.prisma.entry.findMany({
    where: { parentId: target.id, liveName: { not: null } },
    orderBy: [{ type: "asc" }, { name: "asc" }],
    take: 10_000,
  });
  children.sort((a, b) =>
    a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.type === "folder" ? -1 : 1,
  );
  return {
    path: rel,
    entries: children.map((c) => ({
      name: c.name,
      path: joinPath(rel, c.name),
      type: c.type,
      size: Number(c.size),
      modifiedAt: c.updatedAt.toISOString(),
    })),
  };
}

/**
 * Counts one download against the link, atomically with the checks (two downloads racing
 * for the last allowed one cannot both pass). Refused downloads change nothing.
 */
export async function countLinkDownload(
  ctx: ControlContext,
  open: OpenLink,
  what: { path: string; kind: "file" | "zip" },
  meta: { ip?: string | null; now?: Date } = {},
): Promise<number> {
  const now = meta.now ?? new Date();
  const rows = await ctx.prisma.$queryRaw<{ downloadCount: number }[]>`
    UPDATE "ShareLink" SET "downloadCount" = "downloadCount" + 1
    WHERE id = ${open.link.id}::uuid
      AND "revokedAt" IS NULL
      AND ("expiresAt" IS NULL OR "expiresAt" > ${now})
      AND ("maxDownloads" IS NULL OR "downloadCount" < "maxDownloads")
    RETURNING "downloadCount"`;
  if (rows.length === 0) {
    const row = await ctx.prisma.shareLink.findUniqueOrThrow({ where: { id: open.link.id } });
    const state = stateOf(row, now);
    await audit(ctx, {
      action: "link.download",
      target: open.link.id,
      ip: meta.ip ?? null,
      outcome: "denied",
      details: { reason: state, path: what.path },
    });
    throw linkStateError(state === "ok" ? "exhausted" : state);
  }
  await audit(ctx, {
    action: "link.download",
    target: open.link.id,
    ip: meta.ip ?? null,
    details: { path: what.path, kind: what.kind, entryId: open.entry.id, downloadCount: rows[0]!.downloadCount },
  });
  return rows[0]!.downloadCount;
}
