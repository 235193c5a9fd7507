import { z } from "zod";

export const ZHealth = z.object({
  status: z.enum(["ok", "degraded"]),
  database: z.enum(["ok", "unreachable"]),
  nodes: z.object({ active: z.number().int().min(0), total: z.number().int().min(0) }),
  version: z.string(),
});
export type Health = z.infer<typeof ZHealth>;
