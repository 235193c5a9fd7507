import { AppError } from "@cumulus/protocol/errors";
import { formatPath, parsePath } from "@cumulus/protocol/paths";
import { ZBeginUploadRequest, type BeginUploadResponse } from "@cumulus/protocol/api";
import { placeReplicas } from "@cumulus/placement/place";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { makeFolders } from "../fs/mkdir.ts";
import { forbidden, lookup, missingError } from "../fs/tree.ts";
import { knownChunks, liveReplicas, writableNodes, type WritableNode } from "../fs/replicas.ts";
import { describeSource, effectivePolicyOf, type EffectivePolicy } from "../policies/effective.ts";
import { batchForToken, signCapability } from "../capabilities/tokens.ts";
import { assertWithinQuota } from "./quota.ts";

/**
 * How long an upload may take between begin and commit. Its chunks are protected from
 * garbage collection meanwhile; write tokens expire sooner (capabilityTtlSeconds).
 */
export const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;

/** What the Upload row's `manifest` column holds. */
export type StoredManifest = {
  chunks: { id: string; size: number }[];
  /** Replica count the upload was planned for; commit requires it. */
  replicas: number;
  /** The base version number the client gave (null: create). */
  baseVersion: number | null;
  deviceName: string | null;
};

export type TargetState = {
  entryId: string | null;
  parentId: string;
  currentVersion: number | null;
  currentVersionId: string | null;
};

/**
 * Checks that `user` may write `path` from `baseVersion`: for a new file, write access to
 * the parent folder and no entry of that name; for a new version, write access to the
 * file and `baseVersion` still current. Used at begin (fail early) and, inside the
 * commit transaction, again.
 */
export async function checkTarget(
  db: Parameters<typeof lookup>[0],
  user: AuthUser,
  path: string,
  baseVersion: number | null,
): Promise<TargetState> {
  const l = await lookup(db, user, path);
  const n = l.parts.length;
  if (l.chain.length === n + 1) {
    const entryId = l.chain[n]!;
    const entry = await db.entry.findUniqueOrThrow({
      where: { id: entryId },
      include: { currentVersion: { select: { number: true } } },
    });
    if (entry.type === "folder")
      throw new AppError("ALREADY_EXISTS", `${l.path} is a folder: choose another name for the file`);
    if (l.levels[n]! < LEVEL.write) throw forbidden(l.path, "write");
    const current = entry.currentVersion?.number ?? null;
    if (baseVersion === null) {
      throw new AppError(
        "CONFLICT",
        `${l.path} already exists (version ${current ?? "none"}): pass its version as the base to replace it`,
        {
          currentVersion: current,
        },
      );
    }
    if (current !== baseVersion) {
      throw new AppError(
        "CONFLICT",
        `${l.path} changed since version ${baseVersion} (now ${current ?? "none"}): fetch the new version and merge first`,
        {
          currentVersion: current,
        },
      );
    }
    return { entryId, parentId: entry.parentId!, currentVersion: current, currentVersionId: entry.currentVersionId };
  }
  if (l.chain.length === n) {
    const parentId = l.chain[n - 1]!;
    const parent = await db.entry.findUniqueOrThrow({ where: { id: parentId }, select: { type: true } });
    if (parent.type !== "folder") throw await missingError(db, l);
    if (l.levels[n - 1]! < LEVEL.write) throw forbidden(formatPath(l.parts.slice(0, -1)), "write");
    if (baseVersion !== null) {
      throw new AppError(
        "CONFLICT",
        `${l.path} no longer exists (it was at version ${baseVersion}): it was moved or deleted; upload without a base version to create it again`,
        {
          currentVersion: null,
        },
      );
    }
    return { entryId: null, parentId, currentVersion: null, currentVersionId: null };
  }
  throw await missingError(db, l);
}

/**
 * Whose quota a write counts against: a new file belongs to its uploader, a new version
 * to the file's owner (a write-share grantee fills the owner's quota, as in Nextcloud).
 */
export async function quotaOwner(
  db: Parameters<typeof lookup>[0],
  user: AuthUser,
  entryId: string | null,
): Promise<{ user: { id: string; email: string }; currentSize: number }> {
  if (!entryId) return { user, currentSize: 0 };
  const e = await db.entry.findUniqueOrThrow({
    where: { id: entryId },
    select: { size: true, owner: { select: { id: true, email: true } } },
  });
  return { user: e.owner ?? user, currentSize: Number(e.size) };
}

export function validateManifest(size: number, chunks: readonly { id: string; size: number }[]): Map<string, number> {
  let sum = 0;
  const sizes = new Map<string, number>();
  for (const c of chunks) {
    sum += c.size;
    const known = sizes.get(c.id);
    if (known !== undefined && known !== c.size) {
      throw new AppError("BAD_REQUEST", `chunk ${c.id} is listed with two sizes (${known} and ${c.size})`);
    }
    sizes.set(c.id, c.size);
  }
  if (sum !== size)
    throw new AppError("BAD_REQUEST", `the chunk sizes add up to ${sum} bytes but the file size is ${size}`);
  return sizes;
}

/**
 * POST /api/v1/uploads — plans an upload: which chunks the cluster lacks and, for each,
 * the pipeline of nodes to write it to with a write capability for that pipeline.
 */
export async function beginUpload(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  now = new Date(),
  opts: { ip?: string | null } = {},
): Promise<BeginUploadResponse> {
  const req = ZBeginUploadRequest.parse(input);
  const parts = parsePath(req.path);
  if (parts.length === 0) throw new AppError("BAD_REQUEST", "cannot upload to /: give the file's path");
  const path = formatPath(parts);
  const sizes = validateManifest(req.size, req.chunks);

  if (req.parents && parts.length > 1) {
    await makeFolders(ctx, user, formatPath(parts.slice(0, -1)), { parents: true, mustCreate: false });
  }
  const target = await checkTarget(ctx.prisma, user, path, req.baseVersion);
  // Refused here so the client sends no bytes; commit checks again, under a lock.
  const owner = await quotaOwner(ctx.prisma, user, target.entryId);
  await assertWithinQuota(ctx.prisma, owner.user, path, req.size - owner.currentSize);
  const eff = await effectivePolicyOf(ctx.prisma, ctx.config, target.entryId ?? target.parentId);
  const policy = eff.policy;

  const ids = [...sizes.keys()];
  for (const k of await knownChunks(ctx.prisma, ids)) {
    if (sizes.get(k.id) !== k.size) {
      throw new AppError(
        "BAD_REQUEST",
        `chunk ${k.id} is stored with size ${k.size}, the manifest says ${sizes.get(k.id)}: the manifest is wrong`,
      );
    }
  }

  const live = await liveReplicas(ctx.prisma, ctx.config, ids, now);
  const nodes = await writableNodes(ctx.prisma, ctx.config, now);
  const missing = await placeMissing(ctx, eff, sizes, live, nodes);

  const manifest: StoredManifest = {
    chunks: req.chunks.map((c) => ({ id: c.id, size: c.size })),
    replicas: policy.replicas,
    baseVersion: req.baseVersion,
    deviceName: req.deviceName ?? null,
  };
  const upload = await ctx.prisma.upload.create({
    data: {
      userId: user.id,
      path,
      baseVersionId: target.currentVersionId,
      size: BigInt(req.size),
      manifest,
      expiresAt: new Date(now.getTime() + UPLOAD_TTL_MS),
    },
  });

  const tokenOf = await writeTokens(ctx, user, missing, now, opts.ip ?? null);
  ctx.log.debug({ upload: upload.id, path, chunks: ids.length, missing: missing.length }, "upload planned");
  return {
    uploadId: upload.id,
    expiresAt: upload.expiresAt.toISOString(),
    missing: missing.map((m) => ({ id: m.id, size: sizes.get(m.id)!, ...tokenOf.get(`${m.group}|${m.id}`)! })),
  };
}

/**
 * Where each chunk of one file the cluster lacks goes, in manifest order: the nodes that
 * make up its replica count under the file's policy, and `group` (the pipeline's node ids)
 * for sharing a write token. Throws UNAVAILABLE if too few eligible nodes are active.
 * Shared by beginUpload and beginUploadBatch.
 */
export async function placeMissing(
  ctx: ControlContext,
  eff: EffectivePolicy,
  sizes: ReadonlyMap<string, number>,
  live: ReadonlyMap<string, readonly { nodeId: string; node: string; site: string }[]>,
  nodes: readonly WritableNode[],
): Promise<{ id: string; group: string; pipeline: WritableNode[] }[]> {
  const policy = eff.policy;
  const allowed = policy.allowedSites.length > 0 ? new Set(policy.allowedSites) : null;
  const inScope = nodes.filter((n) => n.weight > 0 && (!allowed || allowed.has(n.site)));
  const eligible = inScope.filter((n) => !n.full);
  const full = inScope.filter((n) => n.full).map((n) => n.name);
  const out: { id: string; group: string; pipeline: WritableNode[] }[] = [];
  for (const id of sizes.keys()) {
    const holders = live.get(id) ?? [];
    const need = policy.replicas - holders.length;
    if (need <= 0) continue;
    const held = new Set(holders.map((h) => h.nodeId));
    const heldNames = new Set(holders.map((h) => h.node));
    const heldSites = new Set(holders.map((h) => h.site));
    const placed = placeReplicas(
      id,
      eligible.filter((n) => !held.has(n.id)),
      {
        replicas: need,
        requiredSites: policy.requiredSites.filter((s) => !heldSites.has(s)),
        allowedSites: policy.allowedSites,
        pinnedNodes: policy.pinnedNodes.filter((p) => !held.has(p) && !heldNames.has(p)),
      },
    );
    if (placed.nodes.length < need) {
      const source = await describeSource(ctx.prisma, eff);
      const where = source === "default" ? "the cluster default" : `the policy of ${source}`;
      const scope = allowed ? ` in ${policy.allowedSites.join(", ")}` : "";
      const total = new Set([...eligible.map((n) => n.id), ...held]).size;
      throw new AppError(
        "UNAVAILABLE",
        `${where} needs ${policy.replicas} replica${policy.replicas === 1 ? "" : "s"} but only ${total} eligible storage node${total === 1 ? " is" : "s are"} active${scope}` +
          (full.length > 0 ? ` with room (full: ${full.join(", ")})` : "") +
          `: ${full.length > 0 ? "free space on the full nodes, " : ""}start more nodes or lower the replica count`,
        { replicas: policy.replicas, eligibleNodes: eligible.map((n) => n.name), fullNodes: full },
      );
    }
    const pipeline = placed.nodes.map((p) => eligible.find((n) => n.id === p.id)!);
    out.push({ id, group: pipeline.map((n) => n.id).join(","), pipeline });
  }
  return out;
}

/**
 * Write capabilities for placed chunks: one per pipeline (as many chunks as one token may
 * name), keyed `${group}|${chunk}`, with the pipeline as the client sees it. Shared by
 * beginUpload and beginUploadBatch (which signs over the chunks of every file together).
 */
export async function writeTokens(
  ctx: ControlContext,
  user: AuthUser,
  placed: readonly { id: string; group: string; pipeline: readonly WritableNode[] }[],
  now: Date,
  ip: string | null,
): Promise<Map<string, { token: string; pipeline: BeginUploadResponse["missing"][number]["pipeline"] }>> {
  const groups = new Map<string, { pipeline: readonly WritableNode[]; chunks: Set<string> }>();
  for (const m of placed) {
    const g = groups.get(m.group);
    if (g) g.chunks.add(m.id);
    else groups.set(m.group, { pipeline: m.pipeline, chunks: new Set([m.id]) });
  }
  const tokenOf = new Map<string, { token: string; pipeline: BeginUploadResponse["missing"][number]["pipeline"] }>();
  for (const [key, g] of groups) {
    const hops = g.pipeline.map((n) => ({ nodeId: n.id, url: n.url, site: n.site, ...(n.udt ? { udt: n.udt } : {}) }));
    const fixed = {
      op: "write" as const,
      aud: g.pipeline.map((n) => n.id),
      pipeline: hops,
      sub: user.id,
      ...(ip ? { ip } : {}),
    };
    const pipeline = g.pipeline.map((n) => ({
      nodeId: n.id,
      node: n.name,
      site: n.site,
      url: n.url,
      ...(n.udt ? { udt: n.udt } : {}),
    }));
    for (const batch of batchForToken([...g.chunks], fixed)) {
      const { token } = await signCapability(ctx, { ...fixed, chunks: batch }, now.getTime());
      for (const id of batch) tokenOf.set(`${key}|${id}`, { token, pipeline });
    }
  }
  return tokenOf;
}
