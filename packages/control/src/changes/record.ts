import type { Prisma } from "@cumulus/db/client";

/** Advisory-lock key that orders change-feed appends; arbitrary but fixed. */
const CHANGE_FEED_LOCK = 0x636d6c73; // "cmls"

export const CHANGE_CHANNEL = "cumulus_changes";

export type ChangeInput = {
  kind: "create" | "update" | "move" | "trash" | "restore" | "purge";
  entryId: string;
  parentId: string | null;
  name: string;
  type: "folder" | "file";
  versionId?: string | null;
  actorId: string | null;
};

/**
 * Appends to the change feed inside the caller's transaction. Call it LAST in the
 * transaction: it takes a transaction-scoped lock that serialises appends until commit,
 * so rows become visible in `seq` order and a reader that has seen seq N can never later
 * find a smaller seq appear (a plain sequence would let a slow transaction commit seq 5
 * after a fast one committed seq 6, and followers of the feed would skip 5 for ever).
 */
export async function recordChanges(tx: Prisma.TransactionClient, changes: readonly ChangeInput[]): Promise<bigint[]> {
  if (changes.length === 0) return [];
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${CHANGE_FEED_LOCK}::bigint)`;
  // One INSERT for the whole list (a batch of commits writes hundreds): the rows get their
  // seqs in list order, as one create after another would give them. Raw SQL: Prisma's
  // createManyAndReturn costs the control plane CPU per row and column on its hottest path.
  const rows = await tx.$queryRaw<{ seq: bigint }[]>`
    INSERT INTO "Change" (kind, "entryId", "parentId", name, type, "versionId", "actorId")
    SELECT t.k::"ChangeKind", t.e::uuid, t.p::uuid, t.n, t.ty::"EntryType", t.v::uuid, t.a::uuid
    FROM unnest(${changes.map((c) => c.kind)}::text[], ${changes.map((c) => c.entryId)}::text[],
                ${changes.map((c) => c.parentId)}::text[], ${changes.map((c) => c.name)}::text[],
                ${changes.map((c) => c.type)}::text[], ${changes.map((c) => c.versionId ?? null)}::text[],
                ${changes.map((c) => c.actorId)}::text[]) WITH ORDINALITY AS t(k, e, p, n, ty, v, a, o)
    ORDER BY t.o
    RETURNING seq`;
  const seqs = rows.map((r) => r.seq).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  await tx.$executeRaw`SELECT pg_notify(${CHANGE_CHANNEL}, ${String(seqs[seqs.length - 1])})`;
  return seqs;
}

export function recordChange(tx: Prisma.TransactionClient, change: ChangeInput): Promise<bigint[]> {
  return recordChanges(tx, [change]);
}

export type AuditInTx = {
  action: string;
  actor: AuditActor;
  target: string;
  ip?: string | null;
  details?: Record<string, unknown>;
};
type AuditActor = { id: string; email: string };

/**
 * Writes an audit event inside the mutation's transaction, so the log holds exactly the
 * changes that happened (audit() from audit/audit.ts writes after the fact, for events
 * that have no transaction of their own, such as a refused sign-in).
 */
export async function auditInTx(tx: Prisma.TransactionClient, e: AuditInTx): Promise<void> {
  await tx.auditEvent.create({
    data: {
      action: e.action,
      actorId: e.actor.id,
      actor: e.actor.email,
      target: e.target,
      ip: e.ip ?? null,
      outcome: "ok",
      details: (e.details ?? {}) as Prisma.InputJsonObject,
    },
  });
}
