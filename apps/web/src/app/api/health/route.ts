import { getHealth } from "@cumulus/control/cluster/health";
import { ctx } from "@/server/context.ts";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  const { health, httpStatus } = await getHealth(ctx());
  return Response.json(health, { status: httpStatus, headers: { "cache-control": "no-store" } });
}
