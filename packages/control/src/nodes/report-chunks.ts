import { ZChunkReportRequest, type ChunkReportResponse } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import { audit } from "../audit/audit.ts";
import { authenticateNode } from "./heartbeat.ts";

/**
 * POST /api/nodes/chunks/report — a node (authenticated like its heartbeats, at its
 * current epoch) says which of its chunks are corrupt or missing. Their replica rows
 * become `corrupt`: they stop counting and being handed to readers at once, and the
 * reconciler copies a good replica over them (or deletes them when placement no longer
 * wants a copy there). `verifiedAt` records when, so the delete of a corrupt copy never
 * removes a fresh one written after the report.
 */
export async function reportChunks(
  ctx: ControlContext,
  authorization: string | null,
  input: unknown,
): Promise<ChunkReportResponse> {
  const node = await authenticateNode(ctx, authorization);
  const req = ZChunkReportRequest.parse(input);
  const ids = [...new Set([...req.corrupt, ...req.missing])];
  if (ids.length === 0) return { marked: 0 };
  const marked = await ctx.prisma.$executeRaw`
    UPDATE "ChunkReplica" SET state = 'corrupt', "verifiedAt" = now()
    WHERE "nodeId" = ${node.id}::uuid AND "chunkId" = ANY(${ids}::text[]) AND state = 'stored'`;
  if (marked > 0) {
    ctx.log.warn(
      { node: node.name, corrupt: req.corrupt.length, missing: req.missing.length, source: req.source, marked },
      "node reported bad chunks: replicas marked corrupt, repair follows",
    );
    await audit(ctx, {
      action: "node.chunks_bad",
      actor: `node:${node.name}`,
      target: node.name,
      details: { corrupt: req.corrupt.slice(0, 50), missing: req.missing.slice(0, 50), source: req.source, marked },
    });
  }
  return { marked };
}
